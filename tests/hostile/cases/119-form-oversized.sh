# a 100 kB form (gateway.max_body_bytes is 64 kB): 413
printf "service_code=heating&address_id=b-000001&description="
head -c 100000 /dev/zero | tr "\\0" "a"
