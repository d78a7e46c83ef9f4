# crowdcode shell integration for fish, loaded with --init-command after your config, which is
# left unchanged: event handlers print invisible OSC marks for the recorder.
if set -q CROWDCODE_SHELL_NONCE; and not set -q __crowdcode_hooked
    set -g __crowdcode_hooked 1
    function __crowdcode_prompt --on-event fish_prompt
        printf '\e]6973;%s;P;%s\a\e]6973;%s;A\a' $CROWDCODE_SHELL_NONCE (string replace -a \a '' -- $PWD) $CROWDCODE_SHELL_NONCE
    end
    function __crowdcode_preexec --on-event fish_preexec
        set -g __crowdcode_jobs (count (jobs -p 2>/dev/null))
        printf '\e]6973;%s;C;%s\a' $CROWDCODE_SHELL_NONCE (string replace -a \a '' -- $argv[1] | string replace -a \e '' | string collect)
    end
    # fish leaves $status as it was for a job sent to the background or stopped with Ctrl-Z:
    # report what bash does, 0 for `cmd &` and 128+SIGTSTP for a stopped job.
    function __crowdcode_postexec --on-event fish_postexec
        set -l cc_status $status
        if string match -qr '&\s*$' -- $argv[1]
            set cc_status 0
        else if test (count (jobs -p 2>/dev/null)) -gt "$__crowdcode_jobs"
            set cc_status 148
        end
        printf '\e]6973;%s;P;%s\a\e]6973;%s;D;%s\a' $CROWDCODE_SHELL_NONCE (string replace -a \a '' -- $PWD) $CROWDCODE_SHELL_NONCE $cc_status
    end
end
