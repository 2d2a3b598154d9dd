package rules

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOutput(t *testing.T) {
	o := CompileOutput("Shell spawned (user=%user.name cmd=%proc.cmdline parent=%proc.pname gp=%proc.aname[2] " +
		"anc=%proc.aname file=%fd.name pid=%process.pid evt=%evt.type priv=%container.privileged nope=%fd.nope. 100%)")
	assert.Equal(t, []string{"fd.nope"}, o.Unknown)
	got := string(o.Render(nil, execEvent()))
	assert.Equal(t, "Shell spawned (user=root cmd=bash -c id parent=node gp=containerd-shim "+
		"anc=node containerd-shim systemd file=<NA> pid=4242 evt=execve priv=false nope=<NA>. 100%)", got)

	ev := connectEvent("203.0.113.9", 443)
	delete(ev.str, FieldEvtType)
	o = CompileOutput("%evt.type %fd.sip:%fd.sport %fd.net %evt.arg[2] %evt.arg %proc.name[1]%")
	assert.Equal(t, "network.connect 203.0.113.9:443 10.1.2.3 203.0.113.9 <NA> <NA> <NA>%", string(o.Render(nil, ev)))
	assert.Equal(t, []string{"evt.arg", "proc.name[1]"}, o.Unknown)

	dst := make([]byte, 0, 256)
	ex := execEvent()
	o = CompileOutput("%proc.name %proc.pid %proc.aname %fd.sip")
	assert.Zero(t, testing.AllocsPerRun(100, func() { o.Render(dst[:0], ex) }))
}
