#!/bin/bash
# SPDX-License-Identifier: MIT
# contrib/completion: the bash completion, sourced into a plain bash and
# into one with bash-completion loaded, and the zsh one in an interactive
# zsh on a pseudo-terminal, complete options, durations, signals, columns,
# lock names (from the directory the tools use) and commands; what they
# suggest is what the tools' --help lists and accepts.
. "$(dirname "$0")/lib.sh"

COMPLETION=$TOP/contrib/completion
BASH_COMPLETION_LIB=/usr/share/bash-completion/bash_completion
NOBODY=65534

# bcomp plain|full LINE: the candidates bash offers at the end of LINE,
# sorted, one a line.  COMP_WORDS is split as bash splits it (at blanks,
# and around '=' and ':', which are in COMP_WORDBREAKS).
bcomp() {
	bash -c '
		[ "$1" = full ] && . "$BASH_COMPLETION_LIB"
		. "$COMPLETION/pidlock.bash" || exit 1
		line=$2
		COMP_WORDS=()
		for tok in $line; do
			while [[ $tok =~ ^([^=:]*)([=:])(.*)$ ]]; do
				[[ -n ${BASH_REMATCH[1]} ]] && COMP_WORDS+=("${BASH_REMATCH[1]}")
				COMP_WORDS+=("${BASH_REMATCH[2]}")
				tok=${BASH_REMATCH[3]}
			done
			[[ -n $tok ]] && COMP_WORDS+=("$tok")
		done
		[[ $line == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$line COMP_POINT=${#line}
		f=$(complete -p "${COMP_WORDS[0]}") || exit 1
		f=${f#*-F }; f=${f%% *}
		"$f" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' bcomp "$@" 2> >(grep -v 'compopt: not currently executing' >&2) | sort -u
}
export COMPLETION BASH_COMPLETION_LIB

# expect_comp EXPECTED WHAT: the candidates (one a line) are EXPECTED (words).
expect_comp() {
	local want
	want=$(printf '%s\n' $1 | sort -u)
	[ "$got" = "$want" ] || fail "$2: got '$(echo $got)', expected '$(echo $want)'"
}
# expect_comp_has WORD WHAT
expect_comp_has() {
	printf '%s\n' "$got" | grep -qxF -- "$1" || fail "$2: '$1' not in '$(echo $got)'"
}

# help_options TOOL: every -x and --long option that TOOL --help lists.
help_options() {
	"$1" --help | grep -E '^ +-' | sed 's/^ *//; s/  .*//' | grep -oE -- '--?[A-Za-z][a-z-]*' | sort -u
}

# The options that the modes complete: the help's list, no more, no less.
t_bash_options_are_the_help_options() {
	local mode tool
	for mode in plain full; do
		[ $mode = full ] && [ ! -r "$BASH_COMPLETION_LIB" ] && continue
		for tool in lockrun lockstat lockclean; do
			got=$( { bcomp $mode "$tool -"; bcomp $mode "$tool --"; } | grep -vx -- '--watch=' | sort -u)
			[ "$got" = "$(help_options $tool)" ] ||
				fail "$mode $tool: $(diff <(echo "$got") <(help_options $tool) | grep '^[<>]' | tr '\n' ' ')"
		done
	done
}

t_bash_option_prefix() {
	got=$(bcomp plain 'lockrun --no-'); expect_comp --no-fork "lockrun --no-"
	got=$(bcomp plain 'lockrun --no'); expect_comp "--no-fork --nonblocking" "lockrun --no"
	got=$(bcomp plain 'lockstat --st'); expect_comp --status "lockstat --st"
	got=$(bcomp plain 'lockclean --pid'); expect_comp --pidfiles "lockclean --pid"
	# lockrun's options end at the first operand: there an option is the command's
	got=$(bcomp plain 'lockrun -n f sleep --no'); [ -z "$got" ] || fail "options offered to the command: $got"
	got=$(bcomp plain 'lockrun -n f -'); expect_comp "-c --command" "lockrun -n f -"
}

# Durations: units after a number, examples otherwise; each example is a
# duration the tool accepts.
t_bash_durations() {
	got=$(bcomp plain 'lockrun -w 5'); expect_comp "5ms 5s 5m 5h" "lockrun -w 5"
	got=$(bcomp plain 'lockrun --max-time=1.5'); expect_comp "1.5ms 1.5s 1.5m 1.5h" "--max-time=1.5"
	got=$(bcomp plain 'lockclean --older-than 3'); expect_comp "3ms 3s 3m 3h 3d" "--older-than 3"
	got=$(bcomp plain 'lockrun -K '); [ -n "$got" ] || fail "no example durations"
	local d
	for d in $got; do
		run lockrun -w "$d" -T "$d" -K "$d" f true
		expect_status 0 || fail "lockrun refuses the suggested duration $d"
	done
	got=$(bcomp plain 'lockclean --corrupt-older-than ')
	mkdir empty
	for d in $got; do
		run lockclean -n --older-than "$d" empty
		expect_status 0 || fail "lockclean refuses the suggested duration $d"
	done
	got=$(bcomp plain 'lockstat --watch='); expect_comp_has 2m "lockstat --watch="
}

t_bash_signals_and_columns() {
	got=$(bcomp plain 'lockrun -S T'); expect_comp TERM "lockrun -S T"
	got=$(bcomp plain 'lockrun --signal '); local s
	for s in $got; do
		run lockrun -S "$s" -T 10 f true
		expect_status 0 || fail "lockrun refuses the suggested signal $s"
	done
	got=$(bcomp plain 'lockstat -o PATH,ST'); expect_comp PATH,STATE "-o PATH,ST"
	got=$(bcomp plain 'lockstat --output ')
	local cols
	cols=$(lockstat --help | sed -n '/^Available output columns:/,/^$/p' | awk 'NF > 1 && $1 ~ /^[A-Z]+$/ {print $1}' | sort)
	[ "$got" = "$cols" ] || fail "columns '$(echo $got)', lockstat --help lists '$(echo $cols)'"
}

# Lock names are NAME for NAME.lock in the directory the tools use.
t_bash_lock_names() {
	local mode p
	mkdir locks locks/dir.lock
	export PIDLOCK_DIR=$T/locks
	touch locks/old.lock locks/notes.txt locks/.pidlock-tmp.123.lock
	lockrun -N job sleep 1000 &
	p=$!
	wait_until is_locked locks/job.lock || { kill $p; return; }
	for mode in plain full; do
		[ $mode = full ] && [ ! -r "$BASH_COMPLETION_LIB" ] && continue
		got=$(bcomp $mode 'lockrun -N '); expect_comp "job old" "$mode lockrun -N"
		got=$(bcomp $mode 'lockrun -nN j'); expect_comp job "$mode lockrun -nN j"
		got=$(bcomp $mode 'lockstat --pid j'); expect_comp job "$mode lockstat --pid j"
		got=$(bcomp $mode 'lockclean -n o'); expect_comp old "$mode lockclean -n o"
	done
	# the name it offers is one the tools resolve
	run lockstat --pid job
	expect_status 0
	[ "$out" = "$(pgrep -P $p)" ] || [ "$out" = $p ] || fail "lockstat --pid job: '$out'"
	kill $p
	{ wait $p; } 2>/dev/null
}

# Without PIDLOCK_DIR the completion looks where lockrun -N puts the lock.
t_bash_default_lock_dir() {
	need_root || return 0
	local got
	got=$(env -u PIDLOCK_DIR bash -c '. "$COMPLETION/pidlock.bash"; _pidlock_dir')
	if [ -w /run/lock ]; then
		[ "$got" = /run/lock ] || fail "root: completion uses $got, the library /run/lock"
	fi
	mkdir xdg
	chown $NOBODY xdg
	# a copy nobody can read: the source tree may be in a private directory
	cp "$COMPLETION/pidlock.bash" completion.bash
	# XDG_RUNTIME_DIR or not, a user's names are in /tmp/pidlock-UID
	got=$(env -u PIDLOCK_DIR XDG_RUNTIME_DIR=$T/xdg setpriv --reuid=$NOBODY --regid=$NOBODY \
		--clear-groups bash -c ". $T/completion.bash; _pidlock_dir")
	[ "$got" = "/tmp/pidlock-$NOBODY" ] || fail "nobody: completion uses '$got'"
	run env -u PIDLOCK_DIR XDG_RUNTIME_DIR=$T/xdg setpriv --reuid=$NOBODY --regid=$NOBODY \
		--clear-groups "$USER_BIN/lockrun" -k -N "probe-$$" true
	expect_status 0
	expect_file "/tmp/pidlock-$NOBODY/probe-$$.lock"
	rm -f "/tmp/pidlock-$NOBODY/probe-$$.lock"
}

t_bash_commands_and_files() {
	mkdir sub
	touch sub/file1 sub/file2
	local mode
	for mode in plain full; do
		[ $mode = full ] && [ ! -r "$BASH_COMPLETION_LIB" ] && continue
		got=$(bcomp $mode 'lockrun -N job sle'); expect_comp_has sleep "$mode -N job sle"
		got=$(bcomp $mode 'lockrun -n sub/f'); expect_comp "sub/file1 sub/file2" "$mode lockrun sub/f"
		got=$(bcomp $mode 'lockrun -n sub/file1 sle'); expect_comp_has sleep "$mode lockrun FILE sle"
		got=$(bcomp $mode 'lockrun -N job ls sub/f'); expect_comp "sub/file1 sub/file2" "$mode the command's file"
		got=$(bcomp $mode 'lockstat sub/'); expect_comp "sub/file1 sub/file2" "$mode lockstat sub/"
	done
}

t_bash_syntax() {
	run bash -n "$COMPLETION/pidlock.bash"
	expect_status 0
	[ -r "$BASH_COMPLETION_LIB" ] ||
		printf 'note: bash-completion is not installed; its mode is not tested (apt-get install bash-completion)\n'
}

# --- zsh -------------------------------------------------------------------
need_zsh() {
	command -v zsh >/dev/null 2>&1 || { skip_test "zsh is not installed (apt-get install zsh)"; return 1; }
	zsh -fc 'zmodload zsh/zpty' 2>/dev/null || { skip_test "zsh has no zpty module"; return 1; }
}

# zcomp LINE...: "== LINE" and the candidates for each LINE.
zcomp() {
	mkdir -p fpath
	cp "$COMPLETION/_pidlock" fpath/
	timeout -k 2 20 zsh -f "$TOP/tests/pkg/zsh-complete.zsh" "$T/fpath" "$@"
}
# zgot LINE: the candidates for LINE from the output of zcomp in zout.
zgot() { sed -n "/^== $1\$/,/^== /p" zout | sed '1d;/^== /d'; }

t_zsh_completion() {
	need_zsh || return 0
	run zsh -n "$COMPLETION/_pidlock"
	expect_status 0
	mkdir locks
	export PIDLOCK_DIR=$T/locks
	touch locks/job.lock locks/old.lock locks/.pidlock-tmp.1.lock
	zcomp 'lockrun --no-' 'lockrun -w 5' 'lockclean --older-than 3' 'lockrun -N ' \
		'lockstat --pid j' 'lockstat -o PATH,ST' 'lockrun -S T' 'lockrun -N job sle' \
		'lockrun -n f -' 'lockclean --pid' >zout 2>&1
	[ "$(grep -c '^== ' zout)" = 10 ] || { fail "zsh did not answer every line: $(cat zout)"; return; }
	got=$(zgot 'lockrun --no-'); expect_comp --no-fork "zsh lockrun --no-"
	got=$(zgot 'lockrun -w 5'); expect_comp "5ms 5s 5m 5h" "zsh lockrun -w 5"
	got=$(zgot 'lockclean --older-than 3'); expect_comp "3ms 3s 3m 3h 3d" "zsh --older-than 3"
	got=$(zgot 'lockrun -N '); expect_comp "job old" "zsh lockrun -N"
	got=$(zgot 'lockstat --pid j'); expect_comp_has job "zsh lockstat --pid j"
	got=$(zgot 'lockstat -o PATH,ST'); expect_comp STATE "zsh -o PATH,ST"
	got=$(zgot 'lockrun -S T'); expect_comp TERM "zsh lockrun -S T"
	got=$(zgot 'lockrun -N job sle'); expect_comp_has sleep "zsh lockrun -N job sle"
	got=$(zgot 'lockrun -n f -'); expect_comp "-c --command" "zsh lockrun -n f -"
	got=$(zgot 'lockclean --pid'); expect_comp --pidfiles "zsh lockclean --pid"
}

run_tests \
	t_bash_syntax \
	t_bash_options_are_the_help_options \
	t_bash_option_prefix \
	t_bash_durations \
	t_bash_signals_and_columns \
	t_bash_lock_names \
	t_bash_default_lock_dir \
	t_bash_commands_and_files \
	t_zsh_completion
