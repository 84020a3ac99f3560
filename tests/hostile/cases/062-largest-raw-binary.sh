# ~999,000 random bytes: its dead letter is base64 (1.33x): cut to limits.max_message_bytes
head -c 999000 /dev/urandom
