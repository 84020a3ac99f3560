TESTS += test_conf test_complaint test_id test_csv
test_conf_SRCS := tests/unit/test_conf.c
test_complaint_SRCS := tests/unit/test_complaint.c
test_id_SRCS := tests/unit/test_id.c
test_csv_SRCS := tests/unit/test_csv.c
