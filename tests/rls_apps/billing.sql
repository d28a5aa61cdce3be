-- Subscription payments: a product catalog anyone may browse (only what is published), its
-- prices, and each user's customer record and subscriptions, which only the user reads.
-- Payments write through the service role; the API never writes here.
CREATE TABLE public.products (
  id text PRIMARY KEY,
  is_published boolean NOT NULL DEFAULT false,
  name text NOT NULL,
  description text,
  metadata jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE public.prices (
  id text PRIMARY KEY,
  product_id text NOT NULL REFERENCES public.products (id),
  is_published boolean NOT NULL DEFAULT false,
  currency char(3) NOT NULL,
  unit_amount bigint NOT NULL,
  billing_interval text CHECK (billing_interval IN ('month', 'year'))
);
CREATE TABLE public.customers (
  id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
  processor_customer_id text NOT NULL UNIQUE
);
CREATE TABLE public.subscriptions (
  id text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  price_id text NOT NULL REFERENCES public.prices (id),
  status text NOT NULL,
  current_period_end timestamptz NOT NULL
);
ALTER TABLE public.products ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.prices ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.customers ENABLE ROW LEVEL SECURITY;  -- no policy: the service role's
ALTER TABLE public.subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY "published products are public" ON public.products FOR SELECT
  USING (is_published);
CREATE POLICY "published prices are public" ON public.prices FOR SELECT USING (is_published);
CREATE POLICY "users read their subscriptions" ON public.subscriptions FOR SELECT
  TO authenticated USING ((SELECT auth.uid()) = user_id);
-- seed
INSERT INTO public.products VALUES ('prod_basic', true, 'Basic', 'For one'),
  ('prod_team', true, 'Team', 'For many'), ('prod_next', false, 'Next', 'Not yet');
INSERT INTO public.prices VALUES ('price_b_m', 'prod_basic', true, 'EUR', 500, 'month'),
  ('price_t_m', 'prod_team', true, 'EUR', 2000, 'month'),
  ('price_n_m', 'prod_next', false, 'EUR', 9900, 'month');
INSERT INTO public.customers SELECT id, 'cus_' || md5(email) FROM auth.users;
INSERT INTO public.subscriptions
SELECT 'sub_' || md5(email), id, 'price_b_m', 'active', now() + interval '1 month' FROM auth.users;
