//! `seal-package image-archive SPEC OUT`: the package builder's image step (see `spec` for the
//! format). Prints one line per image: reference, image ID, layer size.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (spec_path, out) = match args.as_slice() {
        [cmd, spec, out] if cmd == "image-archive" => (spec, out),
        [h] if h == "-h" || h == "--help" => {
            println!("usage: seal-package image-archive SPEC OUT.tar\n\nWrites the images SPEC describes as one docker-archive (ctr images import reads it).");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("usage: seal-package image-archive SPEC OUT.tar");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(spec_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("seal-package: reading {spec_path}: {e}");
            return ExitCode::from(2);
        }
    };
    let images = match packager::spec::parse(&text) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("seal-package: {spec_path}: {e}");
            return ExitCode::from(2);
        }
    };
    match packager::archive::write(&images, std::path::Path::new(out)) {
        Ok(written) => {
            for w in written {
                println!("{} sha256:{} {}", w.reference, w.image_id, w.layer_size);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("seal-package: writing {out}: {e}");
            ExitCode::from(1)
        }
    }
}
