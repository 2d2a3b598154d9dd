package falco

import "strings"

// Priority is a Falco rule priority.
type Priority uint8

// Priorities, most severe first.
const (
	PriorityInvalid Priority = iota
	Emergency
	Alert
	Critical
	Error
	Warning
	Notice
	Informational
	Debug
)

var priorityNames = [...]string{"", "EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "DEBUG"}

func (p Priority) String() string {
	if int(p) < len(priorityNames) {
		return priorityNames[p]
	}
	return "PRIORITY?"
}

// ParsePriority reads a priority as Falco does: case-insensitive, INFO for INFORMATIONAL.
func ParsePriority(s string) (Priority, bool) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if u == "INFO" {
		return Informational, true
	}
	for i, n := range priorityNames {
		if i > 0 && n == u {
			return Priority(i), true
		}
	}
	return PriorityInvalid, false
}

// SeverityNumber maps the priority onto an OpenTelemetry log severity number.
func (p Priority) SeverityNumber() int {
	switch p {
	case Emergency:
		return 24 // FATAL4
	case Alert:
		return 23 // FATAL3
	case Critical:
		return 21 // FATAL
	case Error:
		return 17 // ERROR
	case Warning:
		return 13 // WARN
	case Notice:
		return 10 // INFO2
	case Informational:
		return 9 // INFO
	case Debug:
		return 5 // DEBUG
	}
	return 0
}

// SeverityText is the OpenTelemetry severity text of the priority's severity number.
func (p Priority) SeverityText() string {
	switch p {
	case Emergency, Alert, Critical:
		return "FATAL"
	case Error:
		return "ERROR"
	case Warning:
		return "WARN"
	case Notice, Informational:
		return "INFO"
	case Debug:
		return "DEBUG"
	}
	return ""
}
