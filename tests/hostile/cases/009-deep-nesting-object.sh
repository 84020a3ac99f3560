# 5,000 nested objects {"a":{"a":...}}
for i in $(seq 5000); do printf '{"a":'; done
printf 1
for i in $(seq 5000); do printf "}"; done
