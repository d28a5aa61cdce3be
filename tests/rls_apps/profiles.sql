-- User management: a public profile per user, made by a trigger when the user signs up,
-- readable by everyone, changed by its user only. Policies in the initplan form, for every
-- role (no TO clause), as the common starter writes them.
CREATE TABLE public.profiles (
  id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
  username text UNIQUE CHECK (char_length(username) >= 3),
  display_name text,
  avatar_path text,
  homepage text,
  updated_at timestamptz
);
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY "profiles are public" ON public.profiles FOR SELECT USING (true);
CREATE POLICY "users add their profile" ON public.profiles FOR INSERT
  WITH CHECK ((SELECT auth.uid()) = id);
CREATE POLICY "users edit their profile" ON public.profiles FOR UPDATE
  USING ((SELECT auth.uid()) = id);

-- Runs as its owner when auth.users gets a row; PostgreSQL refuses to call it directly.
CREATE FUNCTION public.create_profile_for_new_user() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
  INSERT INTO public.profiles (id, display_name)
  VALUES (new.id, new.raw_user_meta_data ->> 'display_name');
  RETURN new;
END
$$;
CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
  FOR EACH ROW EXECUTE FUNCTION public.create_profile_for_new_user();
-- seed
UPDATE public.profiles p SET username = split_part(u.email, '@', 1)
FROM auth.users u WHERE u.id = p.id;
