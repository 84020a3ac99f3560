# a 10 MB description: too_large for intake, 413 at the gateway, refused by the broker raw
printf '{"schema_version":1,"id":"0f6d7d3e-6f5e-4c55-9a0a-000000000060","source":"hostile","received_at":"2025-06-01T08:00:00Z","category":"heating","description":"'
head -c 10485760 /dev/zero | tr "\\0" "a"
printf '","address":{"text":"x"}}'
