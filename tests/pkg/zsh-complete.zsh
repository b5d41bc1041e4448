# SPDX-License-Identifier: MIT
# Prints the zsh completion candidates for each LINE, one a line, after
# "== LINE".  It drives an interactive zsh in a pseudo-terminal (zpty), with
# compadd wrapped to show what each completion function offers.
#
# usage: zsh -f tests/pkg/zsh-complete.zsh FPATHDIR LINE...
zmodload zsh/zpty || exit 3
dir=$1; shift
zpty z zsh -f -i
zpty -w z "PS1='' PROMPT='' RPROMPT=''; fpath=($dir \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd() { local -a __m; builtin compadd -O __m "$@"; print -rl -- ${^__m/#/"<M>"}"</M>" >/dev/tty; builtin compadd "$@"; }'
zpty -w z 'LISTMAX=10000; print "<READ""Y>"'
zpty -r z chunk '*<READY>*'
for line in "$@"; do
  zpty -w -n z "$line"$'\t'
  zpty -w -n z $'\C-u'
  zpty -w z 'print "<EN""D>"'
  zpty -r z chunk '*<END>*'
  print -r -- "== $line"
  print -r -- "${(@)${(f)chunk//$'\r'/}}" | grep -ao '<M>[^<]*</M>' | sed 's,<M>\(.*\)</M>,\1,' | sort -u
done
zpty -d z
