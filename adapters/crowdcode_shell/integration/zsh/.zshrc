# crowdcode: run your own .zshrc unchanged, then add the recorder's hooks (invisible OSC marks).
ZDOTDIR=$__crowdcode_user_zdotdir
[[ -r $ZDOTDIR/.zshrc ]] && source $ZDOTDIR/.zshrc
# .zlogin still comes for login shells: keep pointing here until it ran. Otherwise start-up is
# over: leave ZDOTDIR as the user had it, and none of our variables exported to their programs.
if [[ -o login ]]; then
    ZDOTDIR=${CROWDCODE_SHELL_INTEGRATION_DIR}
else
    if [[ -n ${CROWDCODE_USER_ZDOTDIR+set} ]]; then export ZDOTDIR=$CROWDCODE_USER_ZDOTDIR; else unset ZDOTDIR; fi
    unset CROWDCODE_USER_ZDOTDIR CROWDCODE_SHELL_INTEGRATION_DIR __crowdcode_user_zdotdir
fi

if [[ -n ${CROWDCODE_SHELL_NONCE:-} && -z ${__crowdcode_hooked:-} ]]; then
    __crowdcode_hooked=1
    __crowdcode_precmd() {
        local cc_status=$? cwd=${PWD//$'\a'/}
        builtin printf '\e]6973;%s;P;%s\a\e]6973;%s;D;%s\a\e]6973;%s;A\a' \
            "$CROWDCODE_SHELL_NONCE" "${cwd//$'\e'/}" "$CROWDCODE_SHELL_NONCE" "$cc_status" "$CROWDCODE_SHELL_NONCE"
    }
    __crowdcode_preexec() {
        local line=${1//$'\a'/}
        builtin printf '\e]6973;%s;C;%s\a' "$CROWDCODE_SHELL_NONCE" "${line//$'\e'/}"
    }
    autoload -Uz add-zsh-hook
    add-zsh-hook precmd __crowdcode_precmd
    add-zsh-hook preexec __crowdcode_preexec
    # run first, so that $? is still the command's status
    precmd_functions=(__crowdcode_precmd ${precmd_functions:#__crowdcode_precmd})
fi
