# crowdcode shell integration for bash. `crowdcode shell` starts bash with `--rcfile` pointing
# here instead of editing your files: your ~/.bashrc runs first, unchanged, then two hooks are
# added that print invisible marks (an OSC sequence terminals ignore) for the recorder:
# before each prompt the directory, the previous command's exit status and "prompt"; before each
# command (PS0) its history entry.
if [ -r ~/.bashrc ]; then . ~/.bashrc; fi

if [ -n "${CROWDCODE_SHELL_NONCE:-}" ] && [ -z "${__crowdcode_hooked:-}" ]; then
    __crowdcode_hooked=1
    __crowdcode_precmd() {
        local status=$? cwd=$PWD
        cwd=${cwd//$'\a'/} cwd=${cwd//$'\e'/}
        builtin printf '\e]6973;%s;P;%s\a\e]6973;%s;D;%s\a\e]6973;%s;A\a' \
            "$CROWDCODE_SHELL_NONCE" "$cwd" "$CROWDCODE_SHELL_NONCE" "$status" "$CROWDCODE_SHELL_NONCE"
        return $status
    }
    __crowdcode_preexec() {
        builtin printf '\e]6973;%s;C;' "$CROWDCODE_SHELL_NONCE"
        HISTTIMEFORMAT= builtin history 1
        builtin printf '\a'
    }
    if [[ ${BASH_VERSINFO[0]} -gt 5 || (${BASH_VERSINFO[0]} -eq 5 && ${BASH_VERSINFO[1]} -ge 1) ]]; then
        PROMPT_COMMAND=(__crowdcode_precmd "${PROMPT_COMMAND[@]}")
    else
        PROMPT_COMMAND="__crowdcode_precmd${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
    fi
    PS0='$(__crowdcode_preexec)'"${PS0:-}"
fi
