/**
 * A labelled input (or textarea) with its help and its error tied to it by aria-describedby, so a screen
 * reader says what is wrong when the field gets focus.
 */
export function TextField({
  id,
  label,
  value,
  onInput,
  help,
  error,
  multiline = false,
  required = false,
  maxLength,
  autoComplete = "off",
}: {
  id: string;
  label: string;
  value: string;
  onInput(value: string): void;
  help?: string;
  error?: string | undefined;
  multiline?: boolean;
  required?: boolean;
  maxLength?: number;
  autoComplete?: string;
}) {
  const describedBy = [help && `${id}-help`, error && `${id}-error`].filter(Boolean).join(" ") || undefined;
  const common = {
    id,
    name: id,
    value,
    required,
    maxLength,
    "aria-invalid": error ? ("true" as const) : undefined,
    "aria-describedby": describedBy,
    onInput: (event: Event) => onInput((event.currentTarget as HTMLInputElement).value),
  };
  return (
    <div class="form-field">
      <label for={id}>{label}</label>
      {multiline ? (
        <textarea {...common} rows={5} />
      ) : (
        <input {...common} type="text" autoComplete={autoComplete} spellcheck={false} />
      )}
      {help && (
        <p id={`${id}-help`} class="help">
          {help}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} class="field-error">
          {error}
        </p>
      )}
    </div>
  );
}
