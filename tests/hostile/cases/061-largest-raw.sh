# ~999,000 bytes: what the broker (and kcat's message.max.bytes) still takes
printf '{"schema_version":1,"id":"0f6d7d3e-6f5e-4c55-9a0a-000000000061","source":"hostile","received_at":"2025-06-01T08:00:00Z","category":"heating","description":"'
head -c 998000 /dev/zero | tr "\\0" "b"
printf '","address":{"text":"x"}}'
