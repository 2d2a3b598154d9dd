# Classifies the detections a collector's file exporter recorded (OTLP JSON, one export
# request per line) for .ci/detection-watch.sh. One tab-separated line per rule record:
#   class  why  rule  executable  parent executable  command line (first 160 characters)
# class is "intended" or "false"; why says what made it intended:
#   vigil-trigger  the process is vigil-trigger, a copy it made (its helpers: a directory
#                  named vigil-trigger-*), or one of them is its parent or an ancestor:
#                  matched on executable paths only, so a command that only names
#                  vigil-trigger (grep vigil-trigger ...) is not intended;
#   test-mark      a test's deliberate action: the word vigil-test-intended (optionally
#                  followed by -SUFFIX, e.g. a random tag) in the process's command line or
#                  its parent's (the tests' container actions, see
#                  internal/containertest.IntendedMark);
#   -              neither: a false positive.
# Nothing else is treated as intended.

def strs($v):
  if $v == null then []
  elif $v.arrayValue != null then [$v.arrayValue.values[]? | .stringValue // empty]
  elif $v.stringValue != null then [$v.stringValue]
  else [] end;
def str($v): strs($v) | join(" ");
def trigger_path: test("(^|/)vigil-trigger(-[^/]*)?(/|$)");
def marked: test("(^|[^A-Za-z0-9_.-])vigil-test-intended(-[A-Za-z0-9]+)*($|[^A-Za-z0-9_.-])");

.resourceLogs[]?.scopeLogs[]?.logRecords[]?
| ((.attributes // []) | map({key: .key, value: .value}) | from_entries) as $a
| select($a["security_rule.name"] != null)
| (strs($a["process.executable.path"]) + strs($a["vigil.parent.executable.path"])
   + strs($a["vigil.ancestors.executable.path"])) as $paths
| (strs($a["process.command_line"]) + strs($a["vigil.parent.command_line"])) as $cmds
| (if any($paths[]; trigger_path) then ["intended", "vigil-trigger"]
   elif any($cmds[]; marked) then ["intended", "test-mark"]
   else ["false", "-"] end) as $class
| $class + [
    str($a["security_rule.name"]),
    (str($a["process.executable.path"]) | if . == "" then "?" else . end),
    (str($a["vigil.parent.executable.path"]) | if . == "" then "?" else . end),
    (str($a["process.command_line"]) | .[0:160])
  ]
| @tsv
