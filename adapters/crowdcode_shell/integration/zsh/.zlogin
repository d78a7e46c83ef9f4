# crowdcode: run your own .zlogin unchanged.
ZDOTDIR=$__crowdcode_user_zdotdir
[[ -r $ZDOTDIR/.zlogin ]] && source $ZDOTDIR/.zlogin
# Start-up is over: leave ZDOTDIR as the user had it, and none of our variables exported.
if [[ -n ${CROWDCODE_USER_ZDOTDIR+set} ]]; then export ZDOTDIR=$CROWDCODE_USER_ZDOTDIR; else unset ZDOTDIR; fi
unset CROWDCODE_USER_ZDOTDIR CROWDCODE_SHELL_INTEGRATION_DIR __crowdcode_user_zdotdir
