. "$(dirname "$0")/lib.sh"
t_a() { sleep 1001 & track $!; sh -c 'sleep 1002 & echo $! >>"$T/.pids"; wait' & track $!; echo 16506 >>"$T/.pids"; wait_until pgrep -f 'sleep 1002' >/dev/null; }
_ok() { ours 17827; echo ours=$?; }; t_b() { _ok; }
run_tests t_b t_a
