// Command crictl is a small CRI client for the offline package: kubeadm v1.20 requires a
// `crictl` on PATH for any CRI socket and runs `info`, `pods -q`, `stopp`, `rmp`, `pull` and
// `inspecti` with it (cmd/kubeadm/app/util/runtime); operators and tests also want `ps`,
// `images` and `version`. Debian 12 does not package cri-tools, so this is built inside the
// Kubernetes tree from kubelet's own CRI client (pkg/kubelet/cri/remote), which speaks the same
// v1alpha2 API as the kubelet it ships with. Flags and output follow cri-tools where kubeadm
// parses them: `pods -q` prints one sandbox ID a line, and a missing image makes `inspecti` exit 1.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1alpha2"
	"k8s.io/kubernetes/pkg/kubelet/cri/remote"
)

const defaultEndpoint = "unix:///run/containerd/containerd.sock"

func usage() {
	fmt.Fprintf(os.Stderr, `usage: crictl [-r ENDPOINT] [-i ENDPOINT] [-t TIMEOUT] COMMAND [ARGS]

commands:
  version              runtime name and version
  info                 runtime status (JSON)
  pods [-q]            pod sandboxes
  stopp ID...          stop pod sandboxes
  rmp ID...            remove pod sandboxes
  ps [-a] [-q]         containers (-a: also exited ones)
  images [-q]          images
  pull IMAGE           pull an image
  inspecti IMAGE       image status (JSON); exit 1 when the image is absent
  rmi IMAGE...         remove images

ENDPOINT defaults to $CONTAINER_RUNTIME_ENDPOINT or %s.
`, defaultEndpoint)
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "crictl: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	global := flag.NewFlagSet("crictl", flag.ContinueOnError)
	global.Usage = usage
	endpoint := os.Getenv("CONTAINER_RUNTIME_ENDPOINT")
	if endpoint == "" {
		endpoint = defaultEndpoint
	}
	var imageEndpoint string
	global.StringVar(&endpoint, "r", endpoint, "runtime endpoint")
	global.StringVar(&endpoint, "runtime-endpoint", endpoint, "runtime endpoint")
	global.StringVar(&imageEndpoint, "i", "", "image endpoint (default: the runtime endpoint)")
	global.StringVar(&imageEndpoint, "image-endpoint", "", "image endpoint")
	timeout := global.Duration("t", 10*time.Second, "connection and request timeout")
	global.DurationVar(timeout, "timeout", 10*time.Second, "connection and request timeout")
	if err := global.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	args := global.Args()
	if len(args) == 0 {
		usage()
		os.Exit(2)
	}
	if imageEndpoint == "" {
		imageEndpoint = endpoint
	}
	cmd, rest := args[0], args[1:]
	sub := flag.NewFlagSet(cmd, flag.ContinueOnError)
	quiet := sub.Bool("q", false, "only IDs")
	all := sub.Bool("a", false, "all containers")
	if err := sub.Parse(rest); err != nil {
		os.Exit(2)
	}
	rest = sub.Args()

	switch cmd {
	case "version", "info", "pods", "stopp", "rmp", "ps":
		rt, err := remote.NewRemoteRuntimeService(endpoint, *timeout)
		if err != nil {
			fail("connect to %s: %v", endpoint, err)
		}
		runtimeCommand(rt, cmd, rest, *quiet, *all)
	case "images", "pull", "inspecti", "rmi":
		im, err := remote.NewRemoteImageService(imageEndpoint, *timeout)
		if err != nil {
			fail("connect to %s: %v", imageEndpoint, err)
		}
		imageCommand(im, cmd, rest, *quiet)
	default:
		usage()
		fail("unknown command %q", cmd)
	}
}

type runtimeService interface {
	Version(string) (*runtimeapi.VersionResponse, error)
	Status() (*runtimeapi.RuntimeStatus, error)
	ListPodSandbox(*runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)
	StopPodSandbox(string) error
	RemovePodSandbox(string) error
	ListContainers(*runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
}

func needIDs(cmd string, ids []string) {
	if len(ids) == 0 {
		fail("%s needs at least one ID", cmd)
	}
}

func runtimeCommand(rt runtimeService, cmd string, args []string, quiet, all bool) {
	switch cmd {
	case "version":
		v, err := rt.Version("v1alpha2")
		if err != nil {
			fail("version: %v", err)
		}
		fmt.Printf("Version:  %s\nRuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s\n",
			v.Version, v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)
	case "info":
		st, err := rt.Status()
		if err != nil {
			fail("getting status of runtime: %v", err)
		}
		printJSON(map[string]interface{}{"status": st})
	case "pods":
		pods, err := rt.ListPodSandbox(nil)
		if err != nil {
			fail("listing pod sandboxes: %v", err)
		}
		var ids []string
		var rows [][]string
		for _, p := range pods {
			name, ns := "", ""
			if p.Metadata != nil {
				name, ns = p.Metadata.Name, p.Metadata.Namespace
			}
			ids = append(ids, p.Id)
			rows = append(rows, []string{short(p.Id), strings.TrimPrefix(p.State.String(), "SANDBOX_"),
				name, ns, time.Unix(0, p.CreatedAt).UTC().Format(time.RFC3339)})
		}
		listing(quiet, ids, "POD ID\tSTATE\tNAME\tNAMESPACE\tCREATED", rows)
	case "stopp", "rmp":
		needIDs(cmd, args)
		for _, id := range args {
			var err error
			if cmd == "stopp" {
				err = rt.StopPodSandbox(id)
			} else {
				err = rt.RemovePodSandbox(id)
			}
			if err != nil {
				fail("%s %s: %v", cmd, id, err)
			}
			if cmd == "stopp" {
				fmt.Printf("Stopped sandbox %s\n", id)
			} else {
				fmt.Printf("Removed sandbox %s\n", id)
			}
		}
	case "ps":
		var filter *runtimeapi.ContainerFilter
		if !all {
			filter = &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}
		}
		cs, err := rt.ListContainers(filter)
		if err != nil {
			fail("listing containers: %v", err)
		}
		var ids []string
		var rows [][]string
		for _, c := range cs {
			name, attempt := "", uint32(0)
			if c.Metadata != nil {
				name, attempt = c.Metadata.Name, c.Metadata.Attempt
			}
			image := c.ImageRef
			if c.Image != nil && c.Image.Image != "" {
				image = c.Image.Image
			}
			ids = append(ids, c.Id)
			rows = append(rows, []string{short(c.Id), image, strings.TrimPrefix(c.State.String(), "CONTAINER_"),
				name, fmt.Sprint(attempt), short(c.PodSandboxId)})
		}
		listing(quiet, ids, "CONTAINER\tIMAGE\tSTATE\tNAME\tATTEMPT\tPOD ID", rows)
	}
}

type imageService interface {
	ListImages(*runtimeapi.ImageFilter) ([]*runtimeapi.Image, error)
	ImageStatus(*runtimeapi.ImageSpec) (*runtimeapi.Image, error)
	PullImage(*runtimeapi.ImageSpec, *runtimeapi.AuthConfig, *runtimeapi.PodSandboxConfig) (string, error)
	RemoveImage(*runtimeapi.ImageSpec) error
}

func imageCommand(im imageService, cmd string, args []string, quiet bool) {
	switch cmd {
	case "images":
		imgs, err := im.ListImages(nil)
		if err != nil {
			fail("listing images: %v", err)
		}
		var ids []string
		var rows [][]string
		for _, i := range imgs {
			ids = append(ids, i.Id)
			for _, tag := range i.RepoTags {
				repo, t := tag, "<none>"
				if k := strings.LastIndex(tag, ":"); k > strings.LastIndex(tag, "/") {
					repo, t = tag[:k], tag[k+1:]
				}
				rows = append(rows, []string{repo, t, short(strings.TrimPrefix(i.Id, "sha256:")), fmt.Sprint(i.Size_)})
			}
		}
		listing(quiet, ids, "IMAGE\tTAG\tIMAGE ID\tSIZE", rows)
	case "pull":
		needIDs(cmd, args)
		ref, err := im.PullImage(&runtimeapi.ImageSpec{Image: args[0]}, nil, nil)
		if err != nil {
			fail("pulling image %s: %v", args[0], err)
		}
		fmt.Printf("Image is up to date for %s\n", ref)
	case "inspecti":
		needIDs(cmd, args)
		for _, name := range args {
			st, err := im.ImageStatus(&runtimeapi.ImageSpec{Image: name})
			if err != nil {
				fail("image status of %s: %v", name, err)
			}
			if st == nil {
				fail("no such image %q present", name)
			}
			printJSON(map[string]interface{}{"status": st})
		}
	case "rmi":
		needIDs(cmd, args)
		for _, name := range args {
			if err := im.RemoveImage(&runtimeapi.ImageSpec{Image: name}); err != nil {
				fail("removing image %s: %v", name, err)
			}
			fmt.Printf("Deleted: %s\n", name)
		}
	}
}

// listing prints the IDs alone (-q, one a line, as kubeadm reads them) or a table.
func listing(quiet bool, ids []string, header string, rows [][]string) {
	if quiet {
		for _, id := range ids {
			fmt.Println(id)
		}
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	w.Flush()
}

func short(id string) string {
	if len(id) > 13 {
		return id[:13]
	}
	return id
}

func printJSON(v interface{}) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fail("encoding JSON: %v", err)
	}
	fmt.Println(string(b))
}
