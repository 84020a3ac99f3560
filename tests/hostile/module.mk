# tests/hostile: the hostile-input corpus (issue 6) - every case of
# tests/hostile/cases/ through komek-intake, the gateway and raw Kafka
# against a running router and task sink; expected outcomes in
# tests/hostile/expected.tsv.  ~35 s.
SHTESTS += tests/hostile/test_hostile.sh
