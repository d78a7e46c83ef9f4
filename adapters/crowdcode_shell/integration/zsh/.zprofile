# crowdcode: run your own .zprofile unchanged.
ZDOTDIR=$__crowdcode_user_zdotdir
[[ -r $ZDOTDIR/.zprofile ]] && source $ZDOTDIR/.zprofile
__crowdcode_user_zdotdir=$ZDOTDIR
ZDOTDIR=${CROWDCODE_SHELL_INTEGRATION_DIR}
