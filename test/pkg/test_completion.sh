#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The bash completion of genctl and gend (daemon/completion/) offers the
# commands, options and values the tools take.
# usage: test_completion.sh SOURCE_DIR
set -u
src=${1:?source dir}
bc=/usr/share/bash-completion/bash_completion
[ -r $bc ] || { echo "SKIP: needs bash-completion"; exit 77; }
# shellcheck disable=SC1090
. $bc
. "$src/daemon/completion/genctl"
. "$src/daemon/completion/gend"
fail() { echo "FAIL: $*"; exit 1; }
# Sourcing registers both (what bash-completion does on first use from
# /usr/share/bash-completion/completions/, where cmake --install puts them).
complete -p genctl | grep -q -- "-F _genctl genctl$" || fail "complete -p genctl: $(complete -p genctl 2>&1)"
complete -p gend | grep -q -- "-F _gend gend$" || fail "complete -p gend: $(complete -p gend 2>&1)"
# comp FUNC WORDS...: the completions of the last word.
comp() {
	local f=$1; shift
	COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	$f "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]:-}"
	echo "${COMPREPLY[*]}"
}
[ "$(comp _genctl genctl '')" = "status stats chains reload metrics alerts flows report synth-rate" ] ||
	fail "genctl commands: $(comp _genctl genctl '')"
[ "$(comp _genctl genctl me)" = metrics ] || fail "genctl me: $(comp _genctl genctl me)"
[ "$(comp _genctl genctl -s /run/gen/gen.sock --j)" = --json ] || fail "genctl --j"
[ -z "$(comp _genctl genctl stats '')" ] || fail "genctl stats takes no more words"
[ "$(comp _genctl genctl --wa)" = --watch ] || fail "genctl --wa: $(comp _genctl genctl --wa)"
[ "$(comp _genctl genctl -i 10 me)" = metrics ] || fail "genctl -i 10 me: $(comp _genctl genctl -i 10 me)"
echo "ok - genctl: commands, options; nothing after a command that takes no argument"
[ "$(comp _gend gend --backend '')" = "auto gpu cpu hybrid" ] || fail "gend --backend: $(comp _gend gend --backend '')"
comp _gend gend --ver | tr " " "\n" | grep -qx -- --version || fail "gend --ver"
comp _gend gend --c | tr " " "\n" | grep -qx -- --check || fail "gend --c"
echo "ok - gend: options and --backend values"
