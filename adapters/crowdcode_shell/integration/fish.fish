# crowdcode shell integration for fish, loaded with --init-command after your config, which is
# left unchanged: event handlers print invisible OSC marks for the recorder.
if set -q CROWDCODE_SHELL_NONCE; and not set -q __crowdcode_hooked
    set -g __crowdcode_hooked 1
    function __crowdcode_prompt --on-event fish_prompt
        printf '\e]6973;%s;P;%s\a\e]6973;%s;A\a' $CROWDCODE_SHELL_NONCE (string replace -a \a '' -- $PWD) $CROWDCODE_SHELL_NONCE
    end
    function __crowdcode_preexec --on-event fish_preexec
        printf '\e]6973;%s;C;%s\a' $CROWDCODE_SHELL_NONCE (string replace -a \a '' -- $argv[1] | string replace -a \e '' | string collect)
    end
    function __crowdcode_postexec --on-event fish_postexec
        set -l cc_status $status
        printf '\e]6973;%s;P;%s\a\e]6973;%s;D;%s\a' $CROWDCODE_SHELL_NONCE (string replace -a \a '' -- $PWD) $CROWDCODE_SHELL_NONCE $cc_status
    end
end
