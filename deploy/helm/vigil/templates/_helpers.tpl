{{/* Names, labels and the component lists shared by the templates. */}}

{{- define "vigil.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vigil.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "vigil.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "vigil.namespace" -}}
{{- default .Release.Namespace .Values.namespace.name -}}
{{- end -}}

{{- define "vigil.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vigil.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vigil.policiesConfigMap" -}}
{{- default (printf "%s-policies" (include "vigil.fullname" .)) .Values.policies.existingConfigMap -}}
{{- end -}}

{{- define "vigil.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vigil.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node-agent
{{- end -}}

{{- define "vigil.labels" -}}
{{ include "vigil.selectorLabels" . }}
app.kubernetes.io/part-of: vigil
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "vigil.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The component types the Vigil distribution contains (builder-config.yaml), by kind.
Extra components of another type fail rendering instead of failing at the agent's start.
*/}}
{{- define "vigil.knownTypes" -}}
processors: [memory_limiter, batch, k8s_enrich, attributes, filter, redaction, resource, transform]
exporters: [otlp_grpc, otlp_http, file, debug]
extensions: [health_check, k8s_meta, file_storage, bearertokenauth, oauth2client]
{{- end -}}

{{/*
vigil.checkExtras validates a list of {name, config} under the value named by "key",
of the component kind "kind"; fails with the value's name and the reason.
*/}}
{{- define "vigil.checkExtras" -}}
{{- $known := get (include "vigil.knownTypes" .root | fromYaml) .kind -}}
{{- $seen := dict -}}
{{- range $i, $e := .list -}}
{{- if not (kindIs "map" $e) -}}
{{- fail (printf "%s[%d]: want a map {name, config}, got %v" $.key $i $e) -}}
{{- end -}}
{{- if not $e.name -}}
{{- fail (printf "%s[%d]: name is required (<type> or <type>/<id>)" $.key $i) -}}
{{- end -}}
{{- $type := first (splitList "/" $e.name) -}}
{{- if not (has $type $known) -}}
{{- fail (printf "%s[%d]: %q: component type %q is not in the Vigil distribution (%s: %s)" $.key $i $e.name $type $.kind (join ", " $known)) -}}
{{- end -}}
{{- if hasKey $seen $e.name -}}
{{- fail (printf "%s[%d]: %q is listed twice" $.key $i $e.name) -}}
{{- end -}}
{{- $_ := set $seen $e.name true -}}
{{- if and (hasKey $e "config") (not (kindIs "map" $e.config)) (not (kindIs "invalid" $e.config)) -}}
{{- fail (printf "%s[%d]: %q: config must be a map" $.key $i $e.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
