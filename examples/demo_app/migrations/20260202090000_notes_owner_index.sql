CREATE INDEX notes_owner_created_idx ON public.notes (owner_id, created_at DESC);
