# SPDX-License-Identifier: MIT
# bash completion for lockrun(1), lockstat(1) and lockclean(8)       -*- sh -*-
#
# Installed as completions/lockrun, with lockstat and lockclean linked to
# it, so that bash-completion loads it on first use of any of the three.
# It uses bash-completion's helpers when they are loaded (word splitting at
# '=', _filedir, _command_offset) and falls back to plain bash otherwise,
# so that "source pidlock.bash" also works in a bare bash.

# The lock directory, chosen as pidlock_dir() in lib/path.c does.
_pidlock_dir()
{
	if [[ -n ${PIDLOCK_DIR-} ]]; then
		printf '%s\n' "$PIDLOCK_DIR"
	elif [[ $EUID -eq 0 && -d /run/lock && ! -L /run/lock && -w /run/lock && -x /run/lock ]]; then
		printf '%s\n' /run/lock
	else
		printf '%s\n' "/tmp/pidlock-$EUID"
	fi
}

# Lock names in the lock directory: NAME for NAME.lock.  Temporary files
# of the library (.pidlock-tmp.*) are not names one can ask for.
_pidlock_names()
{
	local dir f name
	dir=$(_pidlock_dir)
	for f in "$dir"/*.lock; do
		[[ -f $f ]] || continue
		name=${f##*/}
		name=${name%.lock}
		[[ $name == .pidlock-tmp.* || -z $name ]] && continue
		printf '%s\n' "$name"
	done
}

# Adds to COMPREPLY the words of "$1" (one a line) that start with $cur.
_pidlock_add()
{
	local w
	while IFS= read -r w; do
		[[ -n $w && $w == "$cur"* ]] && COMPREPLY+=("$w")
	done <<<"$1"
}

# Durations as the tools read them: 250ms, 1.5 (seconds), 2m, 1h, 3d.
# A number typed so far gets each unit; nothing typed gets examples.
_pidlock_durations()
{
	local units="ms s m h" u
	[[ ${1-} == days ]] && units="$units d"
	if [[ $cur =~ ^[0-9]+(\.[0-9]*)?$ ]]; then
		for u in $units; do COMPREPLY+=("$cur$u"); done
	else
		_pidlock_add "$(printf '%s\n' 250ms 1 5s 30s 2m 10m 1h 6h ${1:+1d 3d})"
	fi
}

_pidlock_files()
{
	if declare -F _filedir >/dev/null; then
		_filedir
	else
		compopt -o filenames 2>/dev/null
		local IFS=$'\n'
		COMPREPLY+=($(compgen -f -- "$cur"))
	fi
}

_pidlock_dirs()
{
	if declare -F _filedir >/dev/null; then
		_filedir -d
	else
		compopt -o filenames 2>/dev/null
		local IFS=$'\n'
		COMPREPLY+=($(compgen -d -- "$cur"))
	fi
}

# Sets cur, prev, words, cword and split like bash-completion's
# _init_completion -s: "--wait=5" is one word, and completing after '='
# gives prev=--wait, cur=5, split=true.  In plain bash COMP_WORDS splits
# "--wait=5" into "--wait" "=" "5"; those are joined here.
_pidlock_init()
{
	if declare -F _init_completion >/dev/null; then
		_init_completion -s
		return
	fi
	local i w joined=false
	words=() cword=0
	for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
		w=${COMP_WORDS[i]}
		if [[ $w == = && ${#words[@]} -gt 0 && ${words[-1]} == --* &&
			${words[-1]} != *=* ]]; then
			words[-1]+="="
			joined=true
		elif $joined; then
			words[-1]+=$w
			joined=false
		else
			words+=("$w")
		fi
		((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
	done
	# The cursor after "--wait=" sits on an empty word bash did not make.
	((COMP_CWORD >= ${#COMP_WORDS[@]})) && { words+=(""); cword=$((${#words[@]} - 1)); }
	cur=${words[cword]}
	prev=${words[cword - 1]}
	split=false
	if [[ $cur == --?*=* ]]; then
		prev=${cur%%=*}
		cur=${cur#*=}
		split=true
	fi
}

# In a bundle of short options (-nN NAME) the last letter owns the next
# word: prev becomes that option alone.
_pidlock_bundle()
{
	[[ $prev == -[!-]?* ]] && prev=-${prev: -1}
	return 0
}

# The command from word $1 on, completed as that command's own line.
_pidlock_command()
{
	if declare -F _command_offset >/dev/null; then
		_command_offset "$1"
	elif ((cword == $1)); then
		local IFS=$'\n'
		COMPREPLY+=($(compgen -c -- "$cur"))
	else
		_pidlock_files
	fi
}

# Whether option word $1 of tool $2 takes the next word as its argument.
_pidlock_takes_arg()
{
	local short long
	case $2 in
	lockrun) short=wEcNmTKSU long="--wait --timeout --conflict-exit-code --command --start --length --fd --name --message --max-time --kill-after --signal --user --retry --respawn-delay --respawn-limit --output --chdir --umask --etcd --ttl" ;;
	lockstat) short=o long="--output --time-format --status --pid --etcd" ;;
	lockclean) short="" long="--older-than --corrupt-older-than --host-dead" ;;
	esac
	case $1 in
	--*=*) return 1 ;;
	--*) [[ " $long " == *" $1 "* ]] ;;
	-?*)
		# in a bundle (-nw 5) only the last letter can want the next word
		local i c
		for ((i = 1; i < ${#1}; i++)); do
			c=${1:i:1}
			if [[ -n $short && $short == *"$c"* ]]; then
				((i == ${#1} - 1))
				return
			fi
		done
		return 1 ;;
	*) return 1 ;;
	esac
}

_lockrun()
{
	local cur prev words cword split
	_pidlock_init || return
	_pidlock_bundle

	case $prev in
	-w | --wait | --timeout | -T | --max-time | -K | --kill-after | --respawn-delay)
		_pidlock_durations; return ;;
	--retry)
		_pidlock_add "$(printf '%s\n' TERM/30/KILL/5 TERM/10/KILL/5 INT/5/TERM/20/KILL/5 30 forever)"
		return ;;
	--output)
		_pidlock_files; return ;;
	--chdir)
		local IFS=$'\n'
		COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--umask)
		_pidlock_add "$(printf '%s\n' 022 027 077)"; return ;;
	--respawn-limit)
		return ;;
	-N | --name)
		_pidlock_add "$(_pidlock_names)"; return ;;
	-S | --signal)
		_pidlock_add "$(printf '%s\n' HUP INT QUIT KILL USR1 USR2 ALRM TERM CONT STOP WINCH PIPE RTMIN RTMAX)"
		return ;;
	-U | --user)
		local IFS=$'\n'
		COMPREPLY=($(compgen -u -- "$cur")); return ;;
	-c | --command)
		local IFS=$'\n'
		COMPREPLY=($(compgen -c -- "$cur")); return ;;
	-E | --conflict-exit-code | --start | --length | --fd | -m | --message)
		return ;;
	esac
	$split && return

	# Options end at the first operand: FILE|DIR (or FD), then COMMAND.
	# With -N the first operand is already the COMMAND.
	local i named=false operand=-1
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--) operand=$((i + 1)); break ;;
		-N* | --name | --name=* | --auto) named=true ;;
		-?*) ;;
		*) operand=$i; break ;;
		esac
		if _pidlock_takes_arg "${words[i]}" lockrun; then
			((i++))
		fi
	done
	# -N in a bundle, e.g. -nN: the letter counts wherever it is
	for ((i = 1; i < cword && (operand < 0 || i < operand); i++)); do
		[[ ${words[i]} == -[!-]*N* ]] && named=true
	done

	if ((operand < 0)) || ((operand == cword)); then
		if [[ $cur == -* ]] && ((operand < 0)); then
			_pidlock_add "$(printf '%s\n' -s --shared -x -e --exclusive -u --unlock \
				-n --nb --nonblocking -w --wait --timeout -E --conflict-exit-code \
				-o --close -c --command -F --no-fork --fcntl --start --length --fd \
				--verbose -N --name -m --message -q --quiet -k --keep --remove -T --max-time \
				-K --kill-after -S --signal -U --user --foreground --stop --retry --oknodo \
				--replace --respawn --respawn-delay --respawn-limit --until-success \
				--until-failure -b --background --output --chdir --umask --auto --etcd --ttl \
				-h --help -V --version)"
			return
		fi
		if $named; then
			_pidlock_command "$cword"
		else
			_pidlock_files
		fi
		return
	fi
	if $named; then
		_pidlock_command "$operand"
	elif ((cword == operand + 1)) && [[ $cur == -* ]]; then
		_pidlock_add "$(printf '%s\n' -c --command)"
	elif [[ ${words[operand + 1]} == -c || ${words[operand + 1]} == --command ]]; then
		return
	else
		_pidlock_command $((operand + 1))
	fi
}

_lockstat()
{
	local cur prev words cword split
	_pidlock_init || return
	_pidlock_bundle

	case $prev in
	-o | --output)
		# a comma-separated list, optionally after '+' (add to the default)
		local head="" col
		[[ $cur == *,* ]] && head=${cur%,*},
		[[ -z $head && $cur == +* ]] && head=+
		for col in PATH STATE FILEPID FILECOMMAND SINCE AGE HOST HOLDERS MESSAGE \
			PID COMMAND WAITERS MODE TYPE FORMAT UID BOOT REASON HOLDER OWNER \
			SIZE INODE; do
			[[ $head$col == "$cur"* ]] && COMPREPLY+=("$head$col")
		done
		[[ ${#COMPREPLY[@]} -eq 1 ]] && compopt -o nospace 2>/dev/null
		return ;;
	--time-format)
		_pidlock_add "$(printf '%s\n' short full iso)"
		return ;;
	-w | --watch)
		# the interval is optional and goes only after '=': --watch=5s
		if $split; then _pidlock_durations; return; fi ;;
	--status | --pid)
		_pidlock_add "$(_pidlock_names)"
		_pidlock_files
		return ;;
	esac
	$split && return

	if [[ $cur == -* ]]; then
		_pidlock_add "$(printf '%s\n' -o --output --output-all -n --noheadings -r --raw \
			-P --pairs -u --notruncate -J --json -b --bytes --time-format \
			-q --quiet -a --all -w --watch --watch= \
			--status --pid --etcd -h --help -V --version)"
		[[ ${COMPREPLY[*]} == --watch= ]] && compopt -o nospace 2>/dev/null
		return
	fi
	_pidlock_add "$(_pidlock_names)"
	_pidlock_files
}

_lockclean()
{
	local cur prev words cword split
	_pidlock_init || return
	_pidlock_bundle

	case $prev in
	--older-than | --corrupt-older-than)
		_pidlock_durations days; return ;;
	--host-dead)
		local IFS=$'\n'
		COMPREPLY=($(compgen -A hostname -- "$cur")); return ;;
	esac
	$split && return

	if [[ $cur == -* ]]; then
		_pidlock_add "$(printf '%s\n' -n --dry-run -v --verbose -q --quiet -J --json \
			-r --recursive --older-than --pidfiles --corrupt-older-than --host-dead \
			-h --help -V --version)"
		return
	fi
	_pidlock_add "$(_pidlock_names)"
	_pidlock_files
}

complete -F _lockrun lockrun
complete -F _lockstat lockstat
complete -F _lockclean lockclean
