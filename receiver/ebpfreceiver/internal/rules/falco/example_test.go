package falco_test

import (
	"fmt"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/falco"
)

// Example shows the whole path: load a rules file, index the predicates, match an event,
// render the output.
func Example() {
	res := falco.Load(falco.File{Name: "my_rules.yaml", Data: []byte(`
- list: shells
  items: [sh, bash]
- macro: spawned_process
  condition: evt.type in (execve, execveat)
- rule: Shell under a web server
  desc: a shell started by nginx
  condition: spawned_process and proc.name in (shells) and proc.pname = nginx
  output: shell %proc.cmdline under %proc.pname
  priority: WARNING
- rule: Needs DNS
  desc: not supported
  condition: evt.type = connect and fd.sip.name = example.com
  output: x
  priority: NOTICE
`)})
	fmt.Println("loaded", res.Loaded(), "skipped", len(res.Skipped))
	for _, s := range res.Skipped {
		fmt.Println(s)
	}
	preds := make([]*rules.Predicate, len(res.Rules))
	for i, r := range res.Rules {
		preds[i] = r.Predicate
	}
	rs := rules.NewRuleset(preds)
	ev := &event{kind: rules.ProcessExec, str: map[rules.FieldID]string{
		rules.FieldEvtType: "execve", rules.FieldProcName: "bash", rules.FieldProcPname: "nginx",
		rules.FieldProcCmdline: "bash -c id",
	}}
	for _, i := range rs.Match(ev, nil) {
		r := res.Rules[i]
		fmt.Printf("%s [%s, severity %d]: %s\n", r.Name, r.Priority, r.Priority.SeverityNumber(), r.Output.Render(nil, ev))
	}
	// Output:
	// loaded 1 skipped 1
	// my_rules.yaml:13: rule "Needs DNS": field fd.sip.name is not supported
	// Shell under a web server [WARNING, severity 13]: shell bash -c id under nginx
}
