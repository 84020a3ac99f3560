# tests/notify: komek-notify against real receivers (issue 22).
SHTESTS += tests/notify/test_notify.sh
