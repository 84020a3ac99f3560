# 20,000 nested arrays in description (jansson stops at depth 2048)
printf '{"source":"hostile","description":'
head -c 20000 /dev/zero | tr "\\0" "["
head -c 20000 /dev/zero | tr "\\0" "]"
printf "}"
