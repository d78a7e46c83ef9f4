# crowdcode: run your own .zlogin unchanged.
ZDOTDIR=$__crowdcode_user_zdotdir
[[ -r $ZDOTDIR/.zlogin ]] && source $ZDOTDIR/.zlogin
__crowdcode_user_zdotdir=$ZDOTDIR
ZDOTDIR=${CROWDCODE_SHELL_INTEGRATION_DIR}
