// Every destructive action asks first: a button that opens a dialog, and runs the action only
// when the user confirms it.

import { useState, type ReactNode } from "react";
import { errorText } from "../api/problem";
import { Dialog } from "./Dialog";

export interface ConfirmButtonProps {
  /** The button's text. */
  label: ReactNode;
  /** Its accessible name, when the text is not enough (an icon). */
  ariaLabel?: string;
  title: string;
  message: ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<unknown>;
  danger?: boolean;
  disabled?: boolean;
  className?: string;
  testId: string;
}

export function ConfirmButton(props: ConfirmButtonProps) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm();
      setOpen(false);
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button
        type="button"
        className={props.className ?? (props.danger ? "button danger" : "button")}
        aria-label={props.ariaLabel}
        disabled={props.disabled}
        onClick={() => {
          setError(null);
          setOpen(true);
        }}
        data-testid={props.testId}
      >
        {props.label}
      </button>
      <Dialog open={open} title={props.title} onClose={() => setOpen(false)} testId={`${props.testId}-dialog`}>
        <div className="dialog-body">{props.message}</div>
        {error && (
          <p className="form-error" role="alert" data-testid="confirm-error">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="button" onClick={() => setOpen(false)} data-testid="confirm-cancel">
            Keep
          </button>
          <button
            type="button"
            className={props.danger ? "button danger" : "button primary"}
            onClick={confirm}
            disabled={busy}
            data-testid="confirm-ok"
          >
            {busy ? "Working…" : props.confirmLabel}
          </button>
        </div>
      </Dialog>
    </>
  );
}
