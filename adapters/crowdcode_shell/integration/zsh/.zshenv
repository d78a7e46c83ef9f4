# crowdcode shell integration for zsh: ZDOTDIR points here so that zsh reads these files, which
# run yours (from $CROWDCODE_USER_ZDOTDIR, normally your home) unchanged.
ZDOTDIR=${CROWDCODE_USER_ZDOTDIR:-$HOME}
[[ -r $ZDOTDIR/.zshenv ]] && source $ZDOTDIR/.zshenv
# zsh reads .zprofile/.zshrc/.zlogin from ZDOTDIR: send it back here for them, once.
__crowdcode_user_zdotdir=$ZDOTDIR
ZDOTDIR=${CROWDCODE_SHELL_INTEGRATION_DIR}
