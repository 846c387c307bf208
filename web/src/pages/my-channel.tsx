import "../channels/channels.css";
import { useEffect, useRef, useState } from "preact/hooks";
import { fieldErrors } from "../channels/field-errors.ts";
import { TextField } from "../channels/text-field.tsx";
import { ErrorNotice, Loading } from "../components/notice.tsx";
import { RequireSignIn } from "../components/require-sign-in.tsx";
import { api, call } from "../lib/api.ts";
import type { Channel } from "../lib/api-types.ts";
import { useAsync, useSession, useTitle } from "../lib/hooks.ts";

const LABELS = { handle: "Handle", name: "Name", description: "Description" };
type Field = keyof typeof LABELS;

/** Your channel: a form to create it when you have none, else to change its name and description. */
export function MyChannelPage() {
  useTitle("My channel");
  return (
    <RequireSignIn what="manage your channel">
      <MyChannel />
    </RequireSignIn>
  );
}

function MyChannel() {
  const userId = useSession()?.user.id;
  const me = useAsync((signal) => call(api.GET("/v1/me", { signal })), [userId]);
  const [created, setCreated] = useState(false);
  if (me.status === "loading") {
    return (
      <section class="page narrow">
        <Loading label="Loading your channel" />
      </section>
    );
  }
  if (me.status === "error") {
    return (
      <section class="page narrow">
        <h1>My channel</h1>
        <ErrorNotice error={me.error} onRetry={me.reload} />
      </section>
    );
  }
  const onSaved = (channel: Channel) => me.set({ ...me.data, channel });
  if (me.data.channel) return <EditChannel channel={me.data.channel} created={created} onSaved={onSaved} />;
  return (
    <CreateChannel
      onCreated={(channel) => {
        setCreated(true);
        onSaved(channel);
      }}
    />
  );
}

function CreateChannel({ onCreated }: { onCreated(channel: Channel): void }) {
  const [handle, setHandle] = useState("");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const submit = useChannelSubmit(async () => {
    const body = { handle, name, ...(description.trim() ? { description } : {}) };
    onCreated(await call(api.POST("/v1/channels", { body })));
  });
  return (
    <section class="page narrow">
      <h1>Create your channel</h1>
      <p>Your channel is where people find your videos and subscribe to them.</p>
      {/* noValidate: the API checks every field and its answers are shown beside each one. */}
      <form ref={submit.form} class="form" noValidate onSubmit={submit.onSubmit}>
        <TextField
          id="channel-handle"
          label="Handle"
          value={handle}
          onInput={setHandle}
          required
          maxLength={30}
          help="Your channel's address, /c/handle: 3-30 letters, digits or underscores. It cannot change later."
          error={submit.errors.handle}
        />
        <TextField
          id="channel-name"
          label="Name"
          value={name}
          onInput={setName}
          required
          maxLength={100}
          error={submit.errors.name}
        />
        <TextField
          id="channel-description"
          label="Description"
          value={description}
          onInput={setDescription}
          multiline
          maxLength={5000}
          help="Optional: what your channel is about."
          error={submit.errors.description}
        />
        {submit.formError ? <ErrorNotice error={submit.formError} /> : null}
        <div class="form-actions">
          <button type="submit" class="button primary" aria-disabled={submit.busy}>
            Create channel
          </button>
        </div>
      </form>
    </section>
  );
}

function EditChannel({
  channel,
  created,
  onSaved,
}: {
  channel: Channel;
  created: boolean;
  onSaved(channel: Channel): void;
}) {
  const [name, setName] = useState(channel.name);
  const [description, setDescription] = useState(channel.description ?? "");
  const [saved, setSaved] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  // Just created: the form the focus was in is gone, so start again from the heading.
  useEffect(() => {
    if (created) heading.current?.focus();
  }, []);
  const submit = useChannelSubmit(async () => {
    setSaved(false);
    const body = { name, description: description.trim() ? description : null };
    onSaved(
      await call(api.PATCH("/v1/channels/{handle}", { params: { path: { handle: channel.handle } }, body })),
    );
    setSaved(true);
  });
  const href = `/c/${channel.handle}`;
  return (
    <section class="page narrow">
      <h1 ref={heading} tabIndex={-1}>
        My channel
      </h1>
      {created && <p class="notice notice-ok">Your channel @{channel.handle} is ready.</p>}
      <p>
        Handle @{channel.handle}, public page <a href={href}>{href}</a>.
      </p>
      <form ref={submit.form} class="form" noValidate onSubmit={submit.onSubmit}>
        <TextField
          id="channel-name"
          label="Name"
          value={name}
          onInput={setName}
          required
          maxLength={100}
          error={submit.errors.name}
        />
        <TextField
          id="channel-description"
          label="Description"
          value={description}
          onInput={setDescription}
          multiline
          maxLength={5000}
          error={submit.errors.description}
        />
        {submit.formError ? <ErrorNotice error={submit.formError} /> : null}
        <div class="form-actions">
          <button type="submit" class="button primary" aria-disabled={submit.busy}>
            Save changes
          </button>
          <a href={href}>View your channel</a>
          <span role="status">{saved ? "Saved." : ""}</span>
        </div>
      </form>
    </section>
  );
}

/**
 * Runs a channel form's request: what the API says about a field goes beside it (and the first such field
 * gets focus), anything else above the button.
 */
function useChannelSubmit(send: () => Promise<void>) {
  const form = useRef<HTMLFormElement>(null);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [formError, setFormError] = useState<unknown>(null);
  const [failures, setFailures] = useState(0);
  useEffect(() => {
    if (failures) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [failures]);
  const onSubmit = async (event: SubmitEvent) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setErrors({});
    setFormError(null);
    try {
      await send();
    } catch (caught) {
      const split = fieldErrors(caught, LABELS);
      setErrors(split.fields);
      setFormError(split.rest);
      setFailures((n) => n + 1);
    } finally {
      setBusy(false);
    }
  };
  return { form, busy, errors, formError, onSubmit };
}
