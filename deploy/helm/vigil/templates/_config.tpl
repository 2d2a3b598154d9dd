{{/*
vigil.config: the collector configuration, built as a map and written with toYaml, so
every value is quoted correctly and the pipelines name exactly the components defined.
*/}}
{{- define "vigil.config" -}}
{{- $v := .Values -}}
{{- $podIP := "${env:MY_POD_IP}" -}}

{{- /* Sending queue and retries shared by the preset exporters. */ -}}
{{- $queue := dict "enabled" true "queue_size" (int $v.queue.size) -}}
{{- if le (int $v.queue.size) 0 -}}
{{- fail (printf "queue.size: must be > 0, got %v" $v.queue.size) -}}
{{- end -}}
{{- $extensionNames := list "health_check" "k8s_meta" -}}
{{- $extensions := dict
      "health_check" (dict "endpoint" (printf "%s:%d" $podIP (int $v.ports.health)))
      "k8s_meta" (dict "auth_type" "serviceAccount" "node_name_env" "K8S_NODE_NAME") -}}
{{- if $v.queue.enabled -}}
{{- if not (hasPrefix "/" (toString $v.queue.hostPath)) -}}
{{- fail (printf "queue.hostPath: must be an absolute path, got %q" (toString $v.queue.hostPath)) -}}
{{- end -}}
{{- $_ := set $queue "storage" "file_storage/queue" -}}
{{- $_ := set $extensions "file_storage/queue" (dict "directory" "/var/lib/vigil/queue" "create_directory" true) -}}
{{- $extensionNames = append $extensionNames "file_storage/queue" -}}
{{- end -}}
{{- $retry := dict "enabled" true "max_elapsed_time" (toString $v.queue.maxElapsedTime) -}}

{{- /* Exporters: presets, then extras. */ -}}
{{- $exporters := dict -}}
{{- $exporterNames := list -}}
{{- if not (kindIs "slice" $v.exporters) -}}
{{- fail (printf "exporters: want a list of presets (loki, otlp), got %v" $v.exporters) -}}
{{- end -}}
{{- range $v.exporters -}}
{{- if eq . "loki" -}}
{{- $endpoint := $v.loki.endpoint | default (printf "http://%s.%s:%d/otlp" $v.loki.gateway $v.loki.namespace (int $v.loki.port)) -}}
{{- $headers := deepCopy ($v.loki.headers | default dict) -}}
{{- if $v.loki.tenant -}}
{{- $_ := set $headers "X-Scope-OrgID" (toString $v.loki.tenant) -}}
{{- end -}}
{{- $exp := dict "endpoint" $endpoint "sending_queue" (deepCopy $queue) "retry_on_failure" (deepCopy $retry) -}}
{{- if $headers -}}{{- $_ := set $exp "headers" $headers -}}{{- end -}}
{{- if $v.loki.tls.insecureSkipVerify -}}{{- $_ := set $exp "tls" (dict "insecure_skip_verify" true) -}}{{- end -}}
{{- $_ := set $exporters "otlp_http/loki" $exp -}}
{{- $exporterNames = append $exporterNames "otlp_http/loki" -}}
{{- else if eq . "otlp" -}}
{{- if not $v.otlp.endpoint -}}
{{- fail "otlp.endpoint is required with the otlp exporter preset (host:port for grpc, a URL for http)" -}}
{{- end -}}
{{- $type := "" -}}
{{- if eq $v.otlp.protocol "grpc" -}}{{- $type = "otlp_grpc" -}}
{{- else if eq $v.otlp.protocol "http" -}}{{- $type = "otlp_http" -}}
{{- else -}}{{- fail (printf "otlp.protocol: %q is not grpc or http" (toString $v.otlp.protocol)) -}}
{{- end -}}
{{- $exp := dict "endpoint" $v.otlp.endpoint "sending_queue" (deepCopy $queue) "retry_on_failure" (deepCopy $retry) -}}
{{- if $v.otlp.headers -}}{{- $_ := set $exp "headers" (deepCopy $v.otlp.headers) -}}{{- end -}}
{{- if $v.otlp.tls.insecure -}}{{- $_ := set $exp "tls" (dict "insecure" true) -}}{{- end -}}
{{- $_ := set $exporters (printf "%s/otlp" $type) $exp -}}
{{- $exporterNames = append $exporterNames (printf "%s/otlp" $type) -}}
{{- else if eq . "kafka" -}}
{{- fail "exporters: the kafka preset is not available: the contrib kafka exporter is not in the Vigil distribution (it does not resolve at collector v0.161.0); export OTLP to a collector that has it" -}}
{{- else -}}
{{- fail (printf "exporters: unknown exporter preset %q (presets: loki, otlp)" (toString .)) -}}
{{- end -}}
{{- end -}}
{{- include "vigil.checkExtras" (dict "root" $ "kind" "exporters" "key" "extraExporters" "list" $v.extraExporters) -}}
{{- range $v.extraExporters -}}
{{- if hasKey $exporters .name -}}
{{- fail (printf "extraExporters: %q is already defined by a preset" .name) -}}
{{- end -}}
{{- $_ := set $exporters .name (.config | default dict) -}}
{{- $exporterNames = append $exporterNames .name -}}
{{- end -}}
{{- if not $exporterNames -}}
{{- fail "exporters: no exporter: enable a preset (loki, otlp) or add extraExporters" -}}
{{- end -}}

{{- /* Processors, in pipeline order. */ -}}
{{- $processors := dict
      "memory_limiter" (dict "check_interval" "1s" "limit_percentage" 80 "spike_limit_percentage" 20)
      "k8s_enrich" (dict "extension" "k8s_meta" "wait_for_metadata" "2s" "max_pending" 10000 "pod_labels" (list "app.kubernetes.io/name")) -}}
{{- $processorNames := list "memory_limiter" "k8s_enrich" -}}
{{- if $v.clusterName -}}
{{- $_ := set $processors "resource/cluster" (dict "attributes" (list (dict "key" "k8s.cluster.name" "value" (toString $v.clusterName) "action" "upsert"))) -}}
{{- $processorNames = append $processorNames "resource/cluster" -}}
{{- end -}}
{{- include "vigil.checkExtras" (dict "root" $ "kind" "processors" "key" "extraProcessors" "list" $v.extraProcessors) -}}
{{- range $v.extraProcessors -}}
{{- if hasKey $processors .name -}}
{{- fail (printf "extraProcessors: %q is already defined by the chart" .name) -}}
{{- end -}}
{{- $_ := set $processors .name (.config | default dict) -}}
{{- $processorNames = append $processorNames .name -}}
{{- end -}}
{{- /* No batch processor: the ebpf receiver sends batches of up to 1024 records already,
and the batch processor's asynchronous send would hide the exporter's refusals (a full
queue) from the receiver, which turns a refusal into back-pressure (docs/export.md). */ -}}

{{- include "vigil.checkExtras" (dict "root" $ "kind" "extensions" "key" "extraExtensions" "list" $v.extraExtensions) -}}
{{- range $v.extraExtensions -}}
{{- if hasKey $extensions .name -}}
{{- fail (printf "extraExtensions: %q is already defined by the chart" .name) -}}
{{- end -}}
{{- $_ := set $extensions .name (.config | default dict) -}}
{{- $extensionNames = append $extensionNames .name -}}
{{- end -}}

{{- /* The receiver: user settings, then the two the chart owns. */ -}}
{{- $receiver := deepCopy ($v.receiver | default dict) -}}
{{- /* The image's default detection pack first, so that the policies ConfigMap's rules
     files (appends, overrides, exceptions) apply over it. */ -}}
{{- $paths := list "/etc/vigil/policies" -}}
{{- if $v.rules.defaultPack -}}
{{- $paths = prepend $paths "/etc/vigil/rules" -}}
{{- end -}}
{{- $_ := set $receiver "policy_paths" $paths -}}
{{- $_ := set $receiver "k8s_metadata" "k8s_meta" -}}
{{- $_ := set $receiver "node_name" "${env:K8S_NODE_NAME}" -}}

{{- $config := dict
      "receivers" (dict "ebpf" $receiver)
      "processors" $processors
      "exporters" $exporters
      "extensions" $extensions
      "service" (dict
        "extensions" $extensionNames
        "pipelines" (dict "logs" (dict "receivers" (list "ebpf") "processors" $processorNames "exporters" $exporterNames))
        "telemetry" (dict "metrics" (dict "readers" (list (dict "pull" (dict "exporter" (dict "prometheus" (dict "host" $podIP "port" (int $v.ports.metrics)))))))))
-}}
{{- toYaml $config -}}
{{- end -}}
