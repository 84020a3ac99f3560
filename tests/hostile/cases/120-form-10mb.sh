# a 10 MB form: 413 from Content-Length, before the body is read
printf "service_code=heating&address_id=b-000001&description="
head -c 10485760 /dev/zero | tr "\\0" "a"
