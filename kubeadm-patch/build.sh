#!/usr/bin/env bash
# Build a (patched) kubeadm from Debian's `kubernetes` source package or from a user's checkout.
# Usage: see usage() below or README.md. Progress goes to stderr; the LAST line of stdout is the
# path of the built kubeadm.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: build.sh [--version v1.20.2] [--source DIR] [--out DIR] [--no-patches] [--install-deps]
                [--what "kubeadm kubelet ..."] [--add-cmd NAME=DIR]

  --version V     Kubernetes version (default v1.20.2); selects patches/V/*.patch and, without
                  --source, the Debian source package (only v1.20.2 is available there).
  --source DIR    build from this Kubernetes tree instead; it is copied, never modified.
  --out DIR       where to put the kubeadm binary (default $SEAL_KUBEADM_CACHE/out/<build>).
  --no-patches    build the unpatched kubeadm (negative control for tests).
  --install-deps  apt-get install the missing build tools (needs root).
  --what LIST     the cmd/ binaries to build (default: kubeadm); all land in --out.
  --add-cmd N=DIR copy the Go main package in DIR into the build tree as cmd/N (repeatable),
                  so it builds against the tree's vendored libraries (the package's crictl).

Cache: $SEAL_KUBEADM_CACHE (default /var/cache/seal-kubeadm): download/, pristine/, build/,
gocache/, home/, out/. The last line of stdout is the path of the built kubeadm, or with
--what the output directory.

Go >= 1.18 breaks the vendored github.com/modern-go/reflect2 v1.0.1 (any map encode SIGSEGVs,
and a real `kubeadm init` dies in [kubelet-start]); the build tree gets v1.0.2 from Debian's
golang-github-modern-go-reflect2-dev instead, as upstream later did.
EOF
}

log() { printf 'build.sh: %s\n' "$*" >&2; }
die() {
	printf 'build.sh: error: %s\n' "$*" >&2
	exit 1
}

VERSION=v1.20.2
SOURCE=""
OUT=""
PATCHES=1
INSTALL_DEPS=0
WHAT=""
ADD_CMDS=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--version) VERSION=${2:?--version needs a value}; shift 2 ;;
	--version=*) VERSION=${1#*=}; shift ;;
	--source) SOURCE=${2:?--source needs a directory}; shift 2 ;;
	--source=*) SOURCE=${1#*=}; shift ;;
	--out) OUT=${2:?--out needs a directory}; shift 2 ;;
	--out=*) OUT=${1#*=}; shift ;;
	--no-patches) PATCHES=0; shift ;;
	--install-deps) INSTALL_DEPS=1; shift ;;
	--what) WHAT=${2:?--what needs a list}; shift 2 ;;
	--what=*) WHAT=${1#*=}; shift ;;
	--add-cmd) ADD_CMDS+=("${2:?--add-cmd needs NAME=DIR}"); shift 2 ;;
	--add-cmd=*) ADD_CMDS+=("${1#*=}"); shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done

[[ $VERSION =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || die "--version must look like v1.20.2, got '$VERSION'"
MAJOR=${BASH_REMATCH[1]}
MINOR=${BASH_REMATCH[2]}
UPSTREAM=${VERSION#v}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SEAL_KUBEADM_CACHE:-/var/cache/seal-kubeadm}

PATCH_FILES=()
if [[ $PATCHES == 1 ]]; then
	shopt -s nullglob
	PATCH_FILES=("$HERE/patches/$VERSION"/*.patch)
	shopt -u nullglob
	[[ ${#PATCH_FILES[@]} -gt 0 ]] || die "no patches for $VERSION in $HERE/patches/$VERSION (use --no-patches for a plain build)"
fi
if [[ -n $SOURCE ]]; then
	[[ -d $SOURCE ]] || die "--source $SOURCE is not a directory"
	SOURCE=$(cd "$SOURCE" && pwd -P)
	[[ -f $SOURCE/cmd/kubeadm/kubeadm.go && -f $SOURCE/Makefile ]] ||
		die "--source $SOURCE does not look like a Kubernetes tree (no cmd/kubeadm/kubeadm.go or Makefile)"
fi

TARGETS=(kubeadm)
if [[ -n $WHAT ]]; then
	read -r -a TARGETS <<<"${WHAT//,/ }"
	[[ ${#TARGETS[@]} -gt 0 ]] || die "--what needs at least one binary name"
fi
for t in "${TARGETS[@]}"; do
	[[ $t =~ ^[a-z][a-z0-9-]*$ ]] || die "--what: '$t' is not a binary name (e.g. kubelet)"
done
for a in "${ADD_CMDS[@]}"; do
	[[ $a =~ ^([a-z][a-z0-9-]*)=(.+)$ && -d ${BASH_REMATCH[2]} ]] ||
		die "--add-cmd '$a' must be NAME=DIR with DIR a directory holding a Go main package"
done
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2

# --- tools ------------------------------------------------------------------------------------
# tool:Debian package. go's package is golang-go (Debian 12: Go 1.19, which builds 1.20.2).
NEED=(go:golang-go make:make rsync:rsync flock:util-linux sha256sum:coreutils)
# Not a command: the reflect2 sources. A file test stands in for `command -v`.
NEED+=("$REFLECT2/reflect2.go:golang-github-modern-go-reflect2-dev")
[[ $PATCHES == 1 ]] && NEED+=(patch:patch)
[[ -z $SOURCE ]] && NEED+=(apt-get:apt dpkg-source:dpkg-dev xz:xz-utils)

missing_pkgs() {
	local t
	for t in "${NEED[@]}"; do
		if [[ ${t%%:*} == /* ]]; then
			[[ -f ${t%%:*} ]] || printf '%s\n' "$t"
		else
			command -v "${t%%:*}" >/dev/null 2>&1 || printf '%s\n' "$t"
		fi
	done
}
MISSING=$(missing_pkgs)
if [[ -n $MISSING && $INSTALL_DEPS == 1 ]]; then
	[[ $(id -u) == 0 ]] || die "--install-deps needs root"
	PKGS=$(printf '%s\n' "$MISSING" | cut -d: -f2 | sort -u | tr '\n' ' ')
	log "installing: $PKGS"
	apt-get update -q >&2 || die "apt-get update failed"
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PKGS >&2 ||
		die "apt-get install $PKGS failed"
	MISSING=$(missing_pkgs)
fi
if [[ -n $MISSING ]]; then
	while IFS=: read -r tool pkg; do
		printf "build.sh: error: missing tool '%s' (Debian package: %s)\n" "$tool" "$pkg" >&2
	done <<<"$MISSING"
	die "install the packages above (apt-get install ...) or rerun with --install-deps as root"
fi

# --- cache and lock ---------------------------------------------------------------------------
mkdir -p "$CACHE"/{download,pristine,build,gocache,home,out} || die "cannot create cache $CACHE (set SEAL_KUBEADM_CACHE)"
exec 9>"$CACHE/lock"
# Two concurrent builds would rsync/patch the same build tree; serialise them.
flock 9

TMPDIR_SEAL=$(mktemp -d)
trap 'rm -rf "$TMPDIR_SEAL"' EXIT

# --- source -----------------------------------------------------------------------------------
# fetch_debian_source: download Debian's `kubernetes` source package into $CACHE/download/$VERSION
# using a private apt source list (the system's apt configuration is left untouched).
fetch_debian_source() {
	local dl=$CACHE/download/$VERSION
	compgen -G "$dl/*.dsc" >/dev/null && return 0
	local t=$TMPDIR_SEAL/apt f found=0
	mkdir -p "$t/parts" "$t/lists/partial" "$t/dl"
	# The system's own deb sources (mirror, suites, keyring), turned into deb-src.
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		sed -E 's/^Types:.*/Types: deb-src/' "$f" >"$t/parts/$(basename "$f")"
		found=1
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		grep -E '^[[:space:]]*deb[[:space:]]' "$f" | sed -E 's/^[[:space:]]*deb[[:space:]]/deb-src /' \
			>"$t/parts/src-$(basename "$f").list" || true
		[[ -s $t/parts/src-$(basename "$f").list ]] && found=1
	done
	[[ $found == 1 ]] || die "no apt sources found in /etc/apt to derive deb-src entries from"
	local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$t/parts"
		-o "Dir::State::Lists=$t/lists" -o APT::Sandbox::User=root)
	log "downloading Debian source package 'kubernetes' (~34 MB)"
	apt-get -q "${opts[@]}" update >&2 || die "apt-get update (deb-src) failed"
	(cd "$t/dl" && apt-get -q "${opts[@]}" source --download-only kubernetes >&2) ||
		die "apt-get source --download-only kubernetes failed"
	local dsc
	dsc=$(compgen -G "$t/dl/*.dsc" | head -n1) || true
	[[ -n $dsc ]] || die "apt-get source produced no .dsc"
	local deb_version
	deb_version=$(sed -n 's/^Version: //p' "$dsc")
	# Debian's 1.20.5+really1.20.2 is upstream 1.20.2; anything else is not what we patch.
	local up=${deb_version%%-*}
	up=${up##*really}
	[[ $up == "$UPSTREAM" ]] ||
		die "Debian's kubernetes source is $deb_version (upstream $up), not $VERSION; use --source DIR for other versions"
	rm -rf "$dl.tmp"
	mv "$t/dl" "$dl.tmp" && mv "$dl.tmp" "$dl"
	log "downloaded kubernetes $deb_version into $dl"
}

# unpack_debian_source: the pristine tree (upstream + Debian's own patches), made once.
unpack_debian_source() {
	local p=$CACHE/pristine/$VERSION
	[[ -d $p ]] && return 0
	local dsc
	dsc=$(compgen -G "$CACHE/download/$VERSION/*.dsc" | head -n1)
	rm -rf "$p.tmp"
	log "unpacking $(basename "$dsc")"
	dpkg-source -x "$dsc" "$p.tmp" >&2 || die "dpkg-source -x $dsc failed"
	# The rename makes a half-unpacked tree impossible to mistake for a complete one.
	mv "$p.tmp" "$p"
}

if [[ -z $SOURCE ]]; then
	fetch_debian_source
	unpack_debian_source
	SRC=$CACHE/pristine/$VERSION
	NAME=$VERSION
else
	SRC=$SOURCE
	NAME=src-$(printf '%s' "$SOURCE" | sha256sum | cut -c1-12)-$VERSION
fi
if [[ $PATCHES == 1 ]]; then NAME=$NAME-patched; else NAME=$NAME-unpatched; fi

# --- build tree: a fresh copy of the pristine tree, then the patches ---------------------------
# Paths stay stable between runs so the Go build cache (keyed on package directories) hits.
WORK=$CACHE/build/$NAME
mkdir -p "$WORK"
log "syncing $SRC -> $WORK"
# rsync restores every file a previous run's patches touched (their mtime differs) and deletes
# files the patches added. Kept for speed: build output, GOPATH link, make stamps, and the code
# `make` generates (zz_generated.*.go, bindata.go: restoring those costs a minute of regeneration;
# they are copied only when missing). No patch may touch a generated file.
KEEP=(--exclude=/_output --exclude=/.go --exclude=/.make --exclude=/.git)
GEN=(--include='zz_generated.*.go' --include=bindata.go)
rsync -a --delete "${KEEP[@]}" --exclude='zz_generated.*.go' --exclude=bindata.go "$SRC/" "$WORK/" >&2 ||
	die "rsync $SRC -> $WORK failed"
rsync -a --ignore-existing "${KEEP[@]}" --include='*/' "${GEN[@]}" --exclude='*' "$SRC/" "$WORK/" >&2 ||
	die "rsync (generated files) $SRC -> $WORK failed"

for p in "${PATCH_FILES[@]}"; do
	if patch -p1 -d "$WORK" --dry-run --batch --forward -s <"$p" >"$TMPDIR_SEAL/patch.out" 2>&1; then
		log "applying $(basename "$p")"
		patch -p1 -d "$WORK" --batch --forward -s <"$p" >&2 || die "patch $p failed"
	elif patch -p1 -d "$WORK" --dry-run --batch -R -s <"$p" >/dev/null 2>&1; then
		# Only possible with --source: the user's tree already carries this patch.
		log "$(basename "$p") is already applied in $SRC; skipping it"
	else
		cat "$TMPDIR_SEAL/patch.out" >&2
		die "$(basename "$p") does not apply to $SRC"
	fi
done

# The reflect2 fix (see usage). Done in every build tree: rsync restores the old files first.
if [[ -d $WORK/vendor/github.com/modern-go/reflect2 ]]; then
	log "replacing vendored reflect2 (v1.0.1) with Debian's v1.0.2 from $REFLECT2"
	find "$WORK/vendor/github.com/modern-go/reflect2" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
	cp "$REFLECT2"/*.go "$REFLECT2"/*.s "$WORK/vendor/github.com/modern-go/reflect2/" ||
		die "cannot copy $REFLECT2 into the build tree"
	rm -f "$WORK/vendor/github.com/modern-go/reflect2"/*_test.go
fi
# Extra main packages (rsync --delete removes them again on the next run).
for a in "${ADD_CMDS[@]}"; do
	name=${a%%=*}
	rm -rf "$WORK/cmd/$name"
	mkdir -p "$WORK/cmd/$name"
	cp "${a#*=}"/*.go "$WORK/cmd/$name/" || die "cannot copy ${a#*=} into cmd/$name"
	log "added cmd/$name from ${a#*=}"
done

# --- make ---------------------------------------------------------------------------------------
# GOPATH layout as in Debian's debian/rules.
mkdir -p "$WORK/.go/src/k8s.io" "$WORK/_output/local/go"
ln -sfn ../../.. "$WORK/.go/src/k8s.io/kubernetes"
# hack/lib/golang.sh forces GOCACHE=_output/local/go/cache; point that at the persistent cache.
if [[ ! -L $WORK/_output/local/go/cache ]]; then
	rm -rf "$WORK/_output/local/go/cache"
	ln -s "$CACHE/gocache" "$WORK/_output/local/go/cache"
fi
# Debian's tree is a `git archive` export and carries its own version (v1.20.2, commit, "archive").
# A copied checkout has no .git, and kubeadm would call itself v0.0.0-master and pick wrong image
# versions: give it --version.
VERSION_ENV=()
if [[ -n $SOURCE ]]; then
	cat >"$TMPDIR_SEAL/version" <<EOF
KUBE_GIT_VERSION='$VERSION'
KUBE_GIT_MAJOR='$MAJOR'
KUBE_GIT_MINOR='$MINOR'
EOF
	VERSION_ENV=(KUBE_GIT_VERSION_FILE="$TMPDIR_SEAL/version")
fi

WHATS=$(printf 'cmd/%s ' "${TARGETS[@]}")
WHATS=${WHATS% }
log "make WHAT='$WHATS' in $WORK ($(go version))"
start=$(date +%s)
# A fixed build date (the source's own, from its changelog) makes the binaries the same on every
# build, so the package and its image IDs are too.
EPOCH=$(date -d "$(sed -n 's/^ -- .*>  //p' "$WORK/debian/changelog" 2>/dev/null | head -n1)" +%s 2>/dev/null || echo 0)
(cd "$WORK" && env GOPATH="$WORK/.go" CGO_ENABLED=0 HOME="$CACHE/home" GOPROXY=off GOFLAGS= \
	SOURCE_DATE_EPOCH="$EPOCH" "${VERSION_ENV[@]}" make WHAT="$WHATS" >&2) || die "make WHAT='$WHATS' failed in $WORK"
log "make took $(($(date +%s) - start)) s"

OUT=${OUT:-$CACHE/out/$NAME}
mkdir -p "$OUT" || die "cannot create --out $OUT"
OUT=$(cd "$OUT" && pwd -P)
for t in "${TARGETS[@]}"; do
	BIN=$WORK/_output/bin/$t
	[[ -x $BIN ]] || die "make succeeded but $BIN is missing"
	cp "$BIN" "$OUT/.$t.tmp" || die "cannot copy $t to $OUT"
	mv -f "$OUT/.$t.tmp" "$OUT/$t" || die "cannot copy $t to $OUT"
done
if [[ -z $WHAT ]]; then
	log "built $("$OUT/kubeadm" version -o short 2>/dev/null || echo kubeadm) ($NAME)"
	echo "$OUT/kubeadm"
else
	log "built ${TARGETS[*]} ($NAME) into $OUT"
	echo "$OUT"
fi
