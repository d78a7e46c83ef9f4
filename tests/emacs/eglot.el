;;; eglot.el --- Emacs with eglot and `crowdcode lsp' for text files, as docs/lsp.md configures it.
(setq native-comp-async-report-warnings-errors 'silent native-comp-deferred-compilation nil)
(require 'eglot)
(setq confirm-kill-processes nil make-backup-files nil auto-save-default nil create-lockfiles nil)
(add-to-list 'eglot-server-programs `(text-mode . (,(getenv "CROWDCODE_BIN") "lsp" "--stdio")))
(add-hook 'text-mode-hook #'eglot-ensure)
