// Command kube-apiserver runs the Kubernetes API server (release 1.32) that
// PhotoChanger's deployment tests apply the overlays to with a server-side
// dry-run. It is built from the Go module proxy: k8s.io/kubernetes cannot be
// installed with a plain `go install` because its go.mod replaces every
// k8s.io staging module with a local path, so this module requires it and
// points each staging module at its published v0.32 release instead.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
