;;; lsp-mode.el --- Emacs with lsp-mode and `crowdcode lsp' for text files, as docs/lsp.md configures it.
(setq native-comp-async-report-warnings-errors 'silent native-comp-deferred-compilation nil)
(require 'lsp-mode)
(setq confirm-kill-processes nil make-backup-files nil auto-save-default nil create-lockfiles nil
      lsp-auto-guess-root t
      lsp-enable-file-watchers nil
      lsp-session-file (expand-file-name "lsp-session" user-emacs-directory)
      lsp-headerline-breadcrumb-enable nil
      lsp-modeline-code-actions-enable nil
      lsp-modeline-diagnostics-enable nil
      lsp-modeline-workspace-status-enable nil)
(add-to-list 'lsp-language-id-configuration '(text-mode . "plaintext"))
(lsp-register-client
 (make-lsp-client :new-connection (lsp-stdio-connection (list (getenv "CROWDCODE_BIN") "lsp" "--stdio"))
                  :activation-fn (lambda (&rest _) t)
                  :add-on? t
                  :server-id 'crowdcode))
(add-hook 'text-mode-hook #'lsp)
