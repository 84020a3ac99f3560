TESTS += test_conf test_complaint test_complaint_diff test_id test_csv test_http \
	test_time
test_conf_SRCS := tests/unit/test_conf.c
test_complaint_SRCS := tests/unit/test_complaint.c
test_complaint_diff_SRCS := tests/unit/test_complaint_diff.c
test_id_SRCS := tests/unit/test_id.c
test_csv_SRCS := tests/unit/test_csv.c
# common/km_http.c's strict form decoder and common/km_hash.c (issue 14)
test_http_SRCS := tests/unit/test_http.c
test_time_SRCS := tests/unit/test_time.c
TESTS += test_gateway_keys
test_gateway_keys_SRCS := tests/unit/test_gateway_keys.c tests/common/km_test.c \
	producers/gateway/gateway_db.c
# komek-tasksink's scanner against its jansson reference (issue 13)
TESTS += test_tasksink_parse
test_tasksink_parse_SRCS := tests/unit/test_tasksink_parse.c \
	workers/tasksink/tasksink_parse.c
# komek-directory's reader on km_csv_split: rows and file:line refusals (issue 14)
TESTS += test_directory_csv
test_directory_csv_SRCS := tests/unit/test_directory_csv.c \
	tools/directory/directory_csv.c
