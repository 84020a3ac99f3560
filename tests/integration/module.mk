TESTS += test_kafka test_pg
test_kafka_SRCS := tests/integration/test_kafka.c tests/common/km_test.c
test_pg_SRCS := tests/integration/test_pg.c tests/common/km_test.c
