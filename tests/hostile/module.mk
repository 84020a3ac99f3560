# tests/hostile: the hostile-input corpus (issue 6) - every case of
# tests/hostile/cases/ through komek-intake, the gateway and raw Kafka
# against a running router and task sink; expected outcomes in
# tests/hostile/expected.tsv.  ~35 s.
SHTESTS += tests/hostile/test_hostile.sh
# tests/hostile: slow clients (issue 19.1) - 300 dripping connections from
# 127.0.0.1 against the gateway and komek-web while clients from
# 127.0.0.2/.3 must be answered within 100 ms.  ~25 s.
SHTESTS += tests/hostile/test_slow_clients.sh
