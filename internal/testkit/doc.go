// Package testkit holds the test harnesses shared by the repository's Go modules: the
// root module (github.com/vigilsec/vigil) and the deploy module
// (github.com/vigilsec/vigil/deploy) both require it, through a replace directive to this
// directory, so neither imports the other's internal packages and neither takes the
// other's dependencies. It is a module of its own with no dependency outside the
// standard library; its path is under internal/, so only this repository's modules can
// import it.
//
// victorialogs runs a VictoriaLogs on 127.0.0.1; containerd holds what the private
// containerd harnesses (the receiver's containers, the real node's CRI) do alike;
// kubeapiserver holds the etcd and kube-apiserver configuration the integration harness
// and the real-node harness share; collector runs the ocb-built distribution; SyncBuffer
// holds a running process's output.
package testkit
