package redact

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	jwt    = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2J5dGVz"
	awsKey = "AKIAIOSFODNN7EXAMPLE"
)

// redactCases are the leaks of the issue (each masked after the change) and look-alikes
// that must keep their detection context. A case's want is the full expected vector.
var redactCases = []struct {
	name     string
	in, want []string
}{
	{"sh -c mysql --password=",
		[]string{"sh", "-c", "mysql --password=S3cr3t -u root"},
		[]string{"sh", "-c", "mysql --password=*** -u root"}},
	{"sh -c export TOKEN=",
		[]string{"sh", "-c", "export TOKEN=S3cr3t; ./deploy.sh --prod"},
		[]string{"sh", "-c", "export TOKEN=***; ./deploy.sh --prod"}},
	{"sh -c tool --token=",
		[]string{"bash", "-c", "tool --token=S3cr3t && echo ok"},
		[]string{"bash", "-c", "tool --token=*** && echo ok"}},
	{"mysql -pS",
		[]string{"mysql", "-pS3cr3t"},
		[]string{"mysql", "-p***"}},
	{"mysql -uroot -pS db",
		[]string{"/usr/bin/mysql", "-uroot", "-pS3cr3t", "db"},
		[]string{"/usr/bin/mysql", "-uroot", "-p***", "db"}},
	{"mysql bare -p prompts: the database is not the secret",
		[]string{"mysql", "-uroot", "-p", "db"},
		[]string{"mysql", "-uroot", "-p", "db"}},
	{"aws configure set aws_secret_access_key",
		[]string{"aws", "configure", "set", "aws_secret_access_key", "wJalrXUtnFEMI/K7MDENG"},
		[]string{"aws", "configure", "set", "aws_secret_access_key", "***"}},
	{"AWS access key id",
		[]string{"app", "--region", "eu-west-1", awsKey},
		[]string{"app", "--region", "eu-west-1", "***"}},
	{"bare JWT",
		[]string{"app", jwt},
		[]string{"app", "***"}},
	{"access_token JWT in a URL",
		[]string{"curl", "https://api.example.com/v1/me?access_token=" + jwt + "&page=2"},
		[]string{"curl", "https://api.example.com/v1/me?access_token=***&page=2"}},
	{"curl -u user:S",
		[]string{"curl", "-u", "alice:S3cr3t", "https://example.com"},
		[]string{"curl", "-u", "alice:***", "https://example.com"}},
	{"curl --user user:S",
		[]string{"curl", "--user", "alice:S3cr3t", "https://example.com"},
		[]string{"curl", "--user", "alice:***", "https://example.com"}},
	{"curl -uuser:S attached",
		[]string{"curl", "-ualice:S3cr3t", "https://example.com"},
		[]string{"curl", "-ualice:***", "https://example.com"}},
	{"sshpass -p S",
		[]string{"sshpass", "-p", "S3cr3t", "ssh", "-p", "22", "root@host"},
		[]string{"sshpass", "-p", "***", "ssh", "-p", "22", "root@host"}},
	{"redis-cli -a S",
		[]string{"redis-cli", "-h", "cache", "-a", "S3cr3t", "ping"},
		[]string{"redis-cli", "-h", "cache", "-a", "***", "ping"}},
	{"docker login -p S",
		[]string{"docker", "login", "-u", "bob", "-p", "S3cr3t", "registry.example.com"},
		[]string{"docker", "login", "-u", "bob", "-p", "***", "registry.example.com"}},
	{"docker login --password S",
		[]string{"docker", "login", "-u", "bob", "--password", "S3cr3t", "registry.example.com"},
		[]string{"docker", "login", "-u", "bob", "--password", "***", "registry.example.com"}},
	{"docker login --password-stdin takes no value",
		[]string{"docker", "login", "-u", "bob", "--password-stdin", "registry.example.com"},
		[]string{"docker", "login", "-u", "bob", "--password-stdin", "registry.example.com"}},
	{"URL password containing @",
		[]string{"git", "clone", "https://u:p@ss@host/repo.git"},
		[]string{"git", "clone", "https://u:***@host/repo.git"}},
	{"--password -S",
		[]string{"app", "--password", "-S3cr3t", "--verbose"},
		[]string{"app", "--password", "***", "--verbose"}},

	// More tools and token shapes.
	{"sh -c mysql -pS",
		[]string{"sh", "-c", "mysql -uroot -pS3cr3t db < dump.sql"},
		[]string{"sh", "-c", "mysql -uroot -p*** db < dump.sql"}},
	{"sudo mysql -pS",
		[]string{"sudo", "-u", "root", "mysql", "-pS3cr3t"},
		[]string{"sudo", "-u", "root", "mysql", "-p***"}},
	{"nested sh -c 'bash -c ...'",
		[]string{"sh", "-c", "bash -c 'mysql -pS3cr3t' && redis-cli -a 'x y' ping"},
		[]string{"sh", "-c", "bash -c 'mysql -p***' && redis-cli -a '***' ping"}},
	{"quoted value with a space",
		[]string{"sh", "-c", `PGPASSWORD="a b" psql -h db`},
		[]string{"sh", "-c", `PGPASSWORD="***" psql -h db`}},
	{"PGPASSWORD env assignment",
		[]string{"env", "PGPASSWORD=S3cr3t", "psql", "-h", "db"},
		[]string{"env", "PGPASSWORD=***", "psql", "-h", "db"}},
	{"curl -H Authorization Bearer inside sh -c",
		[]string{"sh", "-c", "curl -s -H 'Authorization: Bearer abc.def' https://api"},
		[]string{"sh", "-c", "curl -s -H 'Authorization: Bearer ***' https://api"}},
	{"Authorization Basic",
		[]string{"curl", "-H", "Authorization: Basic YWxpY2U6czNjcjN0"},
		[]string{"curl", "-H", "Authorization: Basic ***"}},
	{"Authorization token (GitHub style)",
		[]string{"curl", "-H", "Authorization: token abcdef0123"},
		[]string{"curl", "-H", "Authorization: token ***"}},
	{"GitHub token",
		[]string{"git", "push", "https://github.com/o/r", "ghp_0123456789abcdefghijABCDEFGHIJ012345"},
		[]string{"git", "push", "https://github.com/o/r", "***"}},
	{"GitHub fine-grained token",
		[]string{"gh", "auth", "status", "github_pat_11ABCDEFG0123456789_abcdefghijklmnop"},
		[]string{"gh", "auth", "status", "***"}},
	{"Slack token",
		[]string{"sh", "-c", "notify xoxb-1234567890-abcdefghij #ops"},
		[]string{"sh", "-c", "notify *** #ops"}},
	{"private key block",
		[]string{"sh", "-c", "echo '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----' > /tmp/k"},
		[]string{"sh", "-c", "echo '-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----' > /tmp/k"}},
	{"URL query signature and key",
		[]string{"wget", "https://bucket.s3.amazonaws.com/o?X-Amz-Signature=abcd1234&X-Amz-Date=20260101&key=k1"},
		[]string{"wget", "https://bucket.s3.amazonaws.com/o?X-Amz-Signature=***&X-Amz-Date=20260101&key=***"}},
	{"mount password option",
		[]string{"mount", "-t", "cifs", "-o", "username=bob,password=S3cr3t,vers=3.0", "//srv/share", "/mnt"},
		[]string{"mount", "-t", "cifs", "-o", "username=bob,password=***,vers=3.0", "//srv/share", "/mnt"}},
	{"kubectl from-literal",
		[]string{"kubectl", "create", "secret", "generic", "db", "--from-literal=password=S3cr3t"},
		[]string{"kubectl", "create", "secret", "generic", "db", "--from-literal=password=***"}},
	{"git config user.password",
		[]string{"git", "config", "--global", "user.password", "S3cr3t"},
		[]string{"git", "config", "--global", "user.password", "***"}},
	{"npm config set scoped auth token",
		[]string{"npm", "config", "set", "//registry.npmjs.org/:_authToken", "npm_S3cr3t"},
		[]string{"npm", "config", "set", "//registry.npmjs.org/:_authToken", "***"}},
	{"more token shapes",
		[]string{"app", "ASIAIOSFODNN7EXAMPL2", "glpat-abcdefghij0123456789", "AIzaSyA0123456789abcdefghijklmnopqrstuv", "sk_live_0123456789abcdefXYZ", "npm_0123456789abcdefghijABCDEFGHIJ012345"},
		[]string{"app", "***", "***", "***", "***", "***"}},
	{"redis-cli --pass S and sshpass -pS",
		[]string{"sh", "-c", "valkey-cli --pass S3cr3t ping; sshpass -pS3cr3t scp a b:"},
		[]string{"sh", "-c", "valkey-cli --pass *** ping; sshpass -p*** scp a b:"}},
	{"mysql bare --password prompts",
		[]string{"mysqldump", "--password", "shop"},
		[]string{"mysqldump", "--password", "shop"}},
	{"--no-auth takes no value",
		[]string{"app", "--no-auth", "serve"},
		[]string{"app", "--no-auth", "serve"}},
	{"podman login -pS attached",
		[]string{"podman", "login", "-pS3cr3t", "quay.io"},
		[]string{"podman", "login", "-p***", "quay.io"}},
	{"skopeo --creds user:S",
		[]string{"skopeo", "copy", "--src-creds", "bob:S3cr3t", "docker://a", "docker://b"},
		[]string{"skopeo", "copy", "--src-creds", "***", "docker://a", "docker://b"}},
	{"htpasswd -b",
		[]string{"htpasswd", "-bc", "/etc/nginx/.htpasswd", "bob", "S3cr3t"},
		[]string{"htpasswd", "-bc", "/etc/nginx/.htpasswd", "bob", "***"}},
	{"htpasswd -nb",
		[]string{"htpasswd", "-nb", "bob", "S3cr3t"},
		[]string{"htpasswd", "-nb", "bob", "***"}},
	{"docker run -e assignment",
		[]string{"docker", "run", "-p", "3306:3306", "-e", "MYSQL_ROOT_PASSWORD=S3cr3t", "mysql:8"},
		[]string{"docker", "run", "-p", "3306:3306", "-e", "MYSQL_ROOT_PASSWORD=***", "mysql:8"}},

	// Look-alikes: program-specific flags of other programs, no secret at all.
	{"ls -p", []string{"ls", "-p", "/tmp"}, []string{"ls", "-p", "/tmp"}},
	{"grep -a", []string{"grep", "-a", "pattern", "file"}, []string{"grep", "-a", "pattern", "file"}},
	{"ssh -p 22 host", []string{"ssh", "-p", "22", "host"}, []string{"ssh", "-p", "22", "host"}},
	{"tar -xpf", []string{"tar", "-xpf", "backup.tar"}, []string{"tar", "-xpf", "backup.tar"}},
	{"git log -p", []string{"git", "log", "-p"}, []string{"git", "log", "-p"}},
	{"git log -p in sh -c", []string{"sh", "-c", "git log -p | head; ls -p; tar -xpf a.tar"},
		[]string{"sh", "-c", "git log -p | head; ls -p; tar -xpf a.tar"}},
	{"docker run -p is a port", []string{"docker", "run", "-p", "8080:80", "nginx"},
		[]string{"docker", "run", "-p", "8080:80", "nginx"}},
	{"curl -u without password", []string{"curl", "-u", "alice", "https://example.com"},
		[]string{"curl", "-u", "alice", "https://example.com"}},
	{"redis-cli -a only for redis", []string{"grep", "-a", "x"}, []string{"grep", "-a", "x"}},
	{"cat /etc/passwd", []string{"cat", "/etc/passwd"}, []string{"cat", "/etc/passwd"}},
	{"bind mount of /etc/passwd", []string{"docker", "run", "-v", "/etc/passwd:/etc/passwd:ro", "alpine"},
		[]string{"docker", "run", "-v", "/etc/passwd:/etc/passwd:ro", "alpine"}},
	{"git credential helper", []string{"git", "config", "credential.helper", "store"},
		[]string{"git", "config", "credential.helper", "store"}},
	{"--token-file names a path", []string{"kubectl", "--token-file", "/var/run/secrets/t", "get", "pods"},
		[]string{"kubectl", "--token-file", "/var/run/secrets/t", "get", "pods"}},
	{"short AKIA-like word", []string{"echo", "AKIA"}, []string{"echo", "AKIA"}},
	{"URL without password", []string{"curl", "https://bob@example.com/x?page=2&sort=asc"},
		[]string{"curl", "https://bob@example.com/x?page=2&sort=asc"}},
	{"sh -c without secrets", []string{"sh", "-c", "cd /app && ./run.sh --port 8080 | tee log"},
		[]string{"sh", "-c", "cd /app && ./run.sh --port 8080 | tee log"}},
}

func TestRedactCases(t *testing.T) {
	r, err := New(true, nil)
	require.NoError(t, err)
	for _, tt := range redactCases {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]string(nil), tt.in...)
			got, changed := r.Args(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, !equal(tt.in, tt.want), changed, "changed flag")
			assert.Equal(t, in, tt.in, "input untouched")
			again, _ := r.Args(got)
			assert.Equal(t, got, again, "idempotent")
			if !equal(tt.in, tt.want) {
				for _, a := range got {
					assert.NotContains(t, a, "S3cr3t")
				}
			}
		})
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// The disabled redactor leaves every case alone.
func TestDisabledKeepsCases(t *testing.T) {
	r, err := New(false, nil)
	require.NoError(t, err)
	for _, tt := range redactCases {
		got, changed := r.Args(tt.in)
		assert.False(t, changed, tt.name)
		assert.Equal(t, tt.in, got, tt.name)
	}
}

// The hand-written name matchers agree with the regular expressions they replace on
// ASCII input (the regular expressions would also fold a few non-ASCII letters).
func FuzzKeyMatchers(f *testing.F) {
	keyValueRE := regexp.MustCompile(`(?i)^(-{0,2}[a-z0-9_.-]*(?:` + defaultKeys + `)[a-z0-9_.-]*[=:])(.+)$`)
	bareKeyRE := regexp.MustCompile(`(?i)^-{1,2}[a-z0-9_.-]*(?:` + defaultKeys + `)[a-z0-9_.-]*$`)
	for _, s := range []string{"--password=x", "-token:x", "PASSWORD=", "api_key=1", "--api-key", "--private-key",
		"-accesskey", "--credentials", "--creds", "--auth", "--pwd", "--Secret:x", "x=password", "--apikey:", "pass=a=b", "--privat-key"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 || s[i] == '\n' {
				return
			}
		}
		want := -1
		if x := keyValueRE.FindStringSubmatchIndex(s); x != nil {
			want = x[4]
		}
		if got := keyValueAt(s); got != want {
			t.Fatalf("keyValueAt(%q) = %d, regexp %d", s, got, want)
		}
		if got, want := isBareKey(s), bareKeyRE.MatchString(s); got != want {
			t.Fatalf("isBareKey(%q) = %v, regexp %v", s, got, want)
		}
	})
}
