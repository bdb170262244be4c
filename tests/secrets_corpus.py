"""Secrets of more than 150 kinds, generated (never real), each embedded in log lines in
several forms: the redactor must hide every one of them, in unit tests and through a running
worker.

A kind is (name, a generator of the secret, the line templates with {s} where the secret
goes). The secret is what must not appear in the redacted text, nor any 8 characters of it.
"""
from __future__ import annotations

import base64
import json
import random
import string
from typing import Callable, List, Tuple

UP, LOW, DIG = string.ascii_uppercase, string.ascii_lowercase, string.digits
ALNUM = UP + LOW + DIG
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "_-"

Gen = Callable[[random.Random], str]


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    # A digit at both ends and in the middle: a generated token is mixed, as real ones are.
    body = [rng.choice(alphabet) for _ in range(n)]
    for index in (0, n // 2, n - 1):
        if any(c.isdigit() for c in alphabet) and n > 2:
            body[index] = rng.choice(DIG)
    return "".join(body)


def tok(prefix: str, alphabet: str, n: int, suffix: str = "") -> Gen:
    """A token: a public prefix (ghp_, sk_live_ …), which is no secret in itself, and a
    generated part, which is."""
    def make(rng: random.Random) -> str:
        return prefix + _r(rng, alphabet, n) + suffix
    make.public_prefix = prefix
    return make


def password(rng: random.Random) -> str:
    return _r(rng, ALNUM, 10) + rng.choice("!#%") + _r(rng, ALNUM, 3)


def word_password(rng: random.Random) -> str:
    """What people choose: a word and digits."""
    return rng.choice(["summer", "dragon", "letmein", "welcome", "qwerty"]) + _r(rng, DIG, 4)


def _luhn(rng: random.Random, prefix: str, length: int) -> str:
    digits = [int(c) for c in prefix] + [rng.randint(0, 9) for _ in range(length - len(prefix) - 1)]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return "".join(map(str, digits + [(10 - total % 10) % 10]))


def card(prefix: str, length: int, sep: str, groups=(4, 4, 4, 4)) -> Gen:
    def make(rng: random.Random) -> str:
        number = _luhn(rng, prefix, length)
        parts, at = [], 0
        for size in groups:
            parts.append(number[at:at + size])
            at += size
        return sep.join(parts)
    return make


def jwt(rng: random.Random) -> str:
    def part(doc):
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    return (f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': _r(rng, DIG, 6)})}."
            f"{_r(rng, URLSAFE, 43)}")


def pem(label: str) -> Gen:
    def make(rng: random.Random) -> str:
        return "\n".join(_r(rng, B64, 64) for _ in range(3))
    return make


def rrn(rng: random.Random, first: str = "1234") -> str:
    return (f"{rng.randint(60, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}-"
            f"{rng.choice(first)}{_r(rng, DIG, 6)}")


def mobile(sep: str, country: bool = False) -> Gen:
    def make(rng: random.Random) -> str:
        head = "+82" + sep + "10" if country else "010"
        return f"{head}{sep}{rng.randint(1000, 9999)}{sep}{_r(rng, DIG, 4)}"
    return make


def email(domain: str) -> Gen:
    return lambda rng: f"{_r(rng, LOW, 6)}.{_r(rng, LOW, 4)}@{domain}"


KINDS: List[Tuple[str, Gen, Tuple[str, ...]]] = [
    # Cloud providers
    ("aws_access_key_id", tok("AKIA", UP + DIG, 16),
     ("ERROR S3 PutObject denied for key {s} in us-east-1", '{{"accessKeyId": "{s}"}}')),
    ("aws_sts_key_id", tok("ASIA", UP + DIG, 16), ("WARN assumed role with {s} expires soon",
                                                   "aws_access_key_id = {s}")),
    ("aws_secret_access_key", tok("", B64, 40),
     ("WARN boto config aws_secret_access_key={s}", '{{"secretAccessKey": "{s}"}}',
      "AWS_SECRET_ACCESS_KEY: {s}")),
    ("aws_session_token", tok("IQoJb3JpZ2luX2Vj", B64, 120),
     ("aws_session_token={s}", "X-Amz-Security-Token: {s}")),
    ("aws_presigned_signature", tok("", HEX, 64),
     ("GET https://b.s3.amazonaws.com/k?X-Amz-Expires=60&X-Amz-Signature={s} 403",)),
    ("gcp_api_key", tok("AIza", URLSAFE, 35), ("maps call failed key={s}",
                                               "ERROR geocode 403 for {s}")),
    ("gcp_oauth_token", tok("ya29.", URLSAFE, 60), ("ERROR 401 token {s} expired",
                                                    "Authorization: Bearer {s}")),
    ("gcp_client_secret", tok("GOCSPX-", URLSAFE, 28), ('{{"client_secret": "{s}"}}',
                                                        "oauth client {s} rejected")),
    ("gcp_service_account_key", tok("", B64, 64),
     ('{{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\n{s}\\n'
      '-----END PRIVATE KEY-----\\n"}}',)),
    ("azure_storage_account_key", tok("", B64, 86, "=="),
     ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={s};EndpointSuffix=core",
      "ERROR blob upload failed AccountKey={s}")),
    ("azure_service_bus_key", tok("", B64, 43, "="),
     ("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={s}",)),
    ("azure_sas_signature", tok("", ALNUM, 43, "%3D"),
     ("GET https://a.blob.core.windows.net/c/b?sv=2022-11-02&se=2026-01-01&sig={s} 403",
      "sas sig={s}&sp=r")),
    ("azure_client_secret", lambda rng: _r(rng, ALNUM, 3) + "8Q~" + _r(rng, ALNUM, 34),
     ("AZURE_CLIENT_SECRET={s}", "msal: client secret {s} rejected")),
    ("azure_openai_key", tok("", HEX, 32), ("api-key: {s}", "Ocp-Apim-Subscription-Key: {s}")),
    ("alibaba_access_key", tok("LTAI", ALNUM, 20), ("oss denied for {s}",)),
    ("digitalocean_token", tok("dop_v1_", HEX, 64), ("doctl auth failed {s}",)),
    ("heroku_api_key", tok("HRKU-", URLSAFE, 60), ("heroku login {s}",)),
    ("ibm_cloud_api_key", tok("", URLSAFE, 44), ("IBMCLOUD_API_KEY={s}",)),
    ("cloudflare_api_token", tok("", URLSAFE, 40), ("CF_API_TOKEN={s}", "X-Auth-Key: {s}")),
    # Source control and CI
    ("github_pat", tok("ghp_", ALNUM, 36), ("ERROR git clone failed using {s}",
                                            "GITHUB_TOKEN={s}")),
    ("github_oauth", tok("gho_", ALNUM, 36), ("oauth token {s} revoked",)),
    ("github_user_to_server", tok("ghu_", ALNUM, 36), ("app token {s}",)),
    ("github_server_to_server", tok("ghs_", ALNUM, 36),
     ("https://x-access-token:{s}@github.com/o/r.git",)),
    ("github_refresh", tok("ghr_", ALNUM, 36), ("refresh {s} failed",)),
    ("github_fine_grained", tok("github_pat_", ALNUM + "_", 82), ("GH_TOKEN={s}",)),
    ("gitlab_pat", tok("glpat-", URLSAFE, 20), ("PRIVATE-TOKEN: {s}", "gitlab 401 with {s}")),
    ("gitlab_pipeline_trigger", tok("glptt-", HEX, 40), ("trigger {s} rejected",)),
    ("gitlab_runner_token", tok("glrt-", URLSAFE, 20), ("runner register {s}",)),
    ("gitlab_deploy_token", tok("gldt-", URLSAFE, 20), ("deploy token {s}",)),
    ("bitbucket_app_password", tok("ATBB", ALNUM, 32), ("bitbucket auth {s}",)),
    ("atlassian_api_token", tok("ATATT3", URLSAFE, 180), ("jira 401 for token {s}",)),
    ("circleci_token", tok("", HEX, 40), ("CIRCLE_TOKEN={s}",)),
    ("npm_token", tok("npm_", ALNUM, 36), ("//registry.npmjs.org/:_authToken={s}",
                                           "npm ERR! 403 {s}")),
    ("pypi_token", tok("pypi-AgEIcHlwaS5vcmc", URLSAFE, 70), ("twine upload token {s}",)),
    ("rubygems_key", tok("rubygems_", HEX, 48), ("gem push {s}",)),
    ("nuget_key", tok("oy2", LOW + DIG, 43), ("nuget push -k {s}",)),
    ("docker_hub_token", tok("dckr_pat_", URLSAFE, 27), ("docker login -p {s}",
                                                         "registry auth {s}")),
    ("jfrog_api_key", tok("AKCp", ALNUM, 69), ("artifactory X-JFrog-Art-Api: {s}",)),
    ("terraform_cloud_token", lambda rng: _r(rng, ALNUM, 14) + ".atlasv1." + _r(rng, URLSAFE, 67),
     ("tfe token {s}",)),
    ("vault_service_token", tok("hvs.", URLSAFE, 90), ("X-Vault-Token: {s}", "vault {s} denied")),
    ("vault_batch_token", tok("hvb.", URLSAFE, 90), ("batch token {s}",)),
    ("doppler_token", tok("dp.st.prd.", ALNUM, 43), ("DOPPLER_TOKEN={s}",)),
    ("pulumi_token", tok("pul-", HEX, 40), ("pulumi login {s}",)),
    ("openshift_token", tok("sha256~", URLSAFE, 43), ("oc login --token={s}",)),
    ("kubernetes_sa_token", jwt, ("kubectl --token {s} get pods",)),
    ("kubeconfig_client_key", tok("LS0tLS1CRUdJTi", B64, 80),
     ("client-key-data: {s}",)),
    # Chat, mail, payments
    ("slack_bot_token", tok("xoxb-", DIG + "-", 30), ("ERROR slack post failed token {s}",)),
    ("slack_user_token", tok("xoxp-", DIG + "-", 40), ("slack user {s}",)),
    ("slack_app_token", lambda rng: "xapp-1-" + _r(rng, UP + DIG, 11) + "-" + _r(rng, HEX, 64),
     ("socket mode with {s}",)),
    ("slack_webhook", tok("https://hooks.slack.com/services/T", UP + DIG + "/", 40),
     ("post to {s} failed",)),
    ("discord_webhook_token", tok("", URLSAFE, 68),
     ("https://discord.com/api/webhooks/1234567890/{s} 404",)),
    ("discord_bot_token", lambda rng: "M" + _r(rng, URLSAFE, 23) + "." + _r(rng, URLSAFE, 6)
     + "." + _r(rng, URLSAFE, 27), ("discord Authorization: Bot {s}",)),
    ("telegram_bot_token", tok("AA", URLSAFE, 33), ("GET /bot123456789:{s}/sendMessage 401",)),
    ("sendgrid_key", lambda rng: "SG." + _r(rng, URLSAFE, 22) + "." + _r(rng, URLSAFE, 43),
     ("sendgrid rejected {s}",)),
    ("mailgun_key", tok("key-", HEX, 32), ("mailgun api:{s}",)),
    ("mailchimp_key", tok("", HEX, 32), ("mailchimp {s}-us12 invalid",)),
    ("brevo_key", lambda rng: "xkeysib-" + _r(rng, HEX, 64) + "-" + _r(rng, ALNUM, 16),
     ("brevo {s}",)),
    ("twilio_api_key", tok("SK", HEX, 32), ("twilio {s} unauthorized",)),
    ("twilio_auth_token", tok("", HEX, 32), ("TWILIO_AUTH_TOKEN={s}",)),
    ("stripe_secret_key", tok("sk_live_", ALNUM, 24), ("ERROR charge failed with key {s}",
                                                       "STRIPE_SECRET_KEY={s}")),
    ("stripe_restricted_key", tok("rk_live_", ALNUM, 24), ("restricted {s}",)),
    ("stripe_webhook_secret", tok("whsec_", ALNUM, 32), ("webhook signing {s}",)),
    ("square_access_token", tok("EAAA", URLSAFE, 60), ("square {s}",)),
    ("square_oauth_secret", tok("sq0csp-", URLSAFE, 43), ("square secret {s}",)),
    ("paypal_client_secret", tok("E", URLSAFE, 79), ("PAYPAL_CLIENT_SECRET={s}",)),
    ("shopify_access_token", tok("shpat_", HEX, 32), ("shopify {s}",)),
    ("shopify_shared_secret", tok("shpss_", HEX, 32), ("shopify hmac {s}",)),
    ("flutterwave_secret", tok("FLWSECK_TEST-", HEX, 32, "-X"), ("flw {s}",)),
    ("shippo_token", tok("shippo_live_", HEX, 40), ("shippo {s}",)),
    ("easypost_key", tok("EZAK", ALNUM, 54), ("easypost {s}",)),
    ("duffel_token", tok("duffel_test_", URLSAFE, 43), ("duffel {s}",)),
    # AI and data platforms
    ("openai_project_key", tok("sk-proj-", URLSAFE, 48), ("openai 401 {s}",
                                                          "OPENAI_API_KEY={s}")),
    ("openai_legacy_key", tok("sk-", ALNUM, 48), ("openai key {s} revoked",)),
    ("anthropic_key", tok("sk-ant-api03-", URLSAFE, 93), ("anthropic {s}",)),
    ("huggingface_token", tok("hf_", ALNUM, 34), ("HF_TOKEN={s}", "hub 401 {s}")),
    ("databricks_token", tok("dapi", HEX, 32), ("databricks {s}",)),
    ("snowflake_password", password, ("snowflake://svc:{s}@acct/db",)),
    ("supabase_token", tok("sbp_", HEX, 40), ("supabase {s}",)),
    ("planetscale_password", tok("pscale_pw_", URLSAFE, 43), ("pscale {s}",)),
    ("linear_key", tok("lin_api_", ALNUM, 40), ("linear {s}",)),
    ("notion_token", tok("ntn_", ALNUM, 46), ("notion {s}",)),
    ("notion_legacy_secret", tok("secret_", ALNUM, 43), ("notion integration {s}",)),
    ("postman_key", lambda rng: "PMAK-" + _r(rng, HEX, 24) + "-" + _r(rng, HEX, 34),
     ("postman {s}",)),
    ("grafana_service_account", tok("glsa_", ALNUM, 32, "_" + "0a1b2c3d"), ("grafana {s}",)),
    ("grafana_cloud_token", tok("glc_", B64, 60), ("grafana cloud {s}",)),
    ("newrelic_user_key", tok("NRAK-", UP + DIG, 27), ("newrelic {s}",)),
    ("sentry_auth_token", tok("sntrys_", B64, 60), ("sentry-cli {s}",)),
    ("sentry_dsn_key", tok("", HEX, 32), ("SENTRY_DSN=https://{s}@o123.ingest.sentry.io/456",)),
    ("datadog_api_key", tok("", HEX, 32), ("DD_API_KEY={s}", '{{"dd-api-key": "{s}"}}')),
    ("datadog_app_key", tok("", HEX, 40), ("DD_APP_KEY={s}",)),
    ("dynatrace_token", lambda rng: "dt0c01." + _r(rng, UP + DIG, 24) + "." + _r(rng, UP + DIG, 64),
     ("dynatrace {s}",)),
    ("mapbox_secret_token", lambda rng: "sk.eyJ1IjoiZXhhbXBsZSJ9." + _r(rng, URLSAFE, 22),
     ("mapbox {s}",)),
    ("contentful_token", tok("CFPAT-", URLSAFE, 43), ("contentful {s}",)),
    ("typeform_token", tok("tfp_", URLSAFE, 59), ("typeform {s}",)),
    ("readme_key", tok("rdme_", LOW + DIG, 70), ("readme {s}",)),
    ("adafruit_key", tok("aio_", ALNUM, 28), ("adafruit {s}",)),
    ("prefect_key", tok("pnu_", ALNUM, 36), ("prefect {s}",)),
    ("scalingo_token", tok("tk-us-", URLSAFE, 48), ("scalingo {s}",)),
    ("age_secret_key", lambda rng: "AGE-SECRET-KEY-1" + "".join(
        rng.choice("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L") for _ in range(58)), ("age key {s}",)),
    ("facebook_access_token", tok("EAAB", ALNUM, 100), ("graph api 190 {s}",)),
    # HTTP
    ("bearer_token", tok("", ALNUM, 32), ("ERROR upstream 401 Authorization: Bearer {s}",
                                          "'authorization': 'bearer {s}'")),
    ("basic_auth_header", lambda rng: base64.b64encode(
        f"svc:{password(rng)}".encode()).decode(), ("Authorization: Basic {s}",
                                                    "proxy-authorization: basic {s}")),
    ("token_auth_header", tok("", HEX, 40), ("Authorization: Token {s}",)),
    ("okta_ssws", tok("00", URLSAFE, 40), ("Authorization: SSWS {s}",)),
    ("api_key_header", tok("", ALNUM, 32), ("X-Api-Key: {s}", "x-api-key={s}")),
    ("auth_token_header", tok("", ALNUM, 32), ("X-Auth-Token: {s}",)),
    ("goog_api_key_header", tok("", ALNUM, 39), ("x-goog-api-key: {s}",)),
    ("jwt", jwt, ("ERROR token rejected: {s} (expired)", '{{"id_token": "{s}"}}')),
    ("jwt_in_cookie", jwt, ("Cookie: access_token={s}; theme=dark",)),
    ("session_cookie", tok("", ALNUM, 32), ("Cookie: session={s}; lang=ko",
                                            "Set-Cookie: session={s}; Path=/; HttpOnly")),
    ("jsessionid", tok("", HEX.upper(), 32), ("GET /cart;jsessionid={s} 500",
                                              "Cookie: JSESSIONID={s}")),
    ("phpsessid", tok("", LOW + DIG, 26), ("PHPSESSID={s} rejected",)),
    ("csrf_token", tok("", URLSAFE, 43), ('{{"csrf_token": "{s}"}}',)),
    ("oauth_access_token_query", tok("", URLSAFE, 40), ("GET /cb?access_token={s}&state=1",)),
    ("oauth_refresh_token", tok("", URLSAFE, 48), ('{{"refresh_token": "{s}"}}',
                                                   "refresh_token={s}")),
    ("oauth_client_secret_form", tok("", URLSAFE, 40),
     ("POST /token body grant_type=client_credentials&client_secret={s}&scope=x",)),
    ("oauth_code", tok("", URLSAFE, 40), ("GET /callback?code_token={s}",)),
    ("api_key_query", tok("", ALNUM, 32), ("GET /v1/data?api_key={s}&page=2 500",)),
    ("signed_url_signature", tok("", URLSAFE, 64),
     ("GET https://storage.googleapis.com/b/o?X-Goog-Signature={s} 403",)),
    ("webhook_secret", tok("", ALNUM, 32), ("WEBHOOK_SECRET={s}",)),
    # Databases and URLs
    ("postgres_url_password", password,
     ("FATAL cannot connect postgresql://app:{s}@db.internal:5432/orders",)),
    ("mysql_url_password", password, ("mysql://root:{s}@10.0.0.5:3306/shop",)),
    ("mongodb_srv_password", password, ("mongodb+srv://svc:{s}@cluster0.mongodb.net/app",)),
    ("redis_url_empty_user", password, ("ERROR redis://:{s}@cache:6379/0 refused",)),
    ("amqp_password_with_slash", lambda rng: _r(rng, ALNUM, 6) + "/" + _r(rng, ALNUM, 6),
     ("amqp://guest:{s}@mq.internal/vhost unreachable",)),
    ("ftp_url_password", password, ("ftp://backup:{s}@files.internal/x failed",)),
    ("http_basic_in_url", password, ("GET https://admin:{s}@api.internal/health 401",)),
    ("jdbc_password_param", password,
     ("jdbc:postgresql://db:5432/app?user=app&password={s} refused",)),
    ("ado_net_password", password, ("Server=db;Database=app;User Id=sa;Password={s};",)),
    ("odbc_pwd", password, ("DRIVER={{ODBC}};SERVER=db;UID=sa;PWD={s};",)),
    ("db_password_env", password, ("DB_PASSWORD={s}", "export DB_PASSWORD='{s}'")),
    ("postgres_password_env", password, ("POSTGRES_PASSWORD={s}",)),
    ("mysql_root_password_env", password, ("MYSQL_ROOT_PASSWORD={s}",)),
    ("pgpassword_env", password, ("PGPASSWORD={s} psql -h db",)),
    ("db_password_camel", password, ("connect(dbPassword={s}) failed", "dbPassword: {s}")),
    ("db_password_dotted", password, ("spring.datasource.password={s}", "db.password = {s}")),
    ("db_password_kebab", password, ("--db-password={s}", "db-password: {s}")),
    ("redis_password_yaml", password, ("redis:\n  password: {s}\n  host: cache",)),
    # JSON, YAML, XML and command lines
    ("client_secret_json", tok("", ALNUM, 32), ('{{"clientSecret": "{s}"}}',
                                                '{{"client_secret":"{s}","id":1}}')),
    ("password_json_with_space", lambda rng: _r(rng, ALNUM, 6) + " " + _r(rng, ALNUM, 6),
     ('{{"user": "bob", "password": "{s}"}}',)),
    ("password_json_with_ampersand", lambda rng: _r(rng, ALNUM, 6) + "&" + _r(rng, ALNUM, 6),
     ('{{"password": "{s}"}}',)),
    ("password_json_escaped_quote", lambda rng: _r(rng, ALNUM, 6) + '\\"' + _r(rng, ALNUM, 6),
     ('{{"password": "{s}", "remember": true}}',)),
    ("password_in_escaped_json", password, ('msg="body={{\\"password\\":\\"{s}\\"}}"',)),
    ("password_python_dict", password, ("kwargs={{'password': '{s}', 'user': 'x'}}",)),
    ("password_xml", password, ("<db><user>app</user><password>{s}</password></db>",)),
    ("password_xml_namespaced", password, ("<cfg:Password>{s}</cfg:Password>",)),
    ("dotnet_appsetting_key", tok("", ALNUM, 32), ('<add key="ApiKey" value="{s}" />',)),
    ("passphrase", password, ("ssh-keygen passphrase={s}", "GPG_PASSPHRASE: {s}")),
    ("mysql_cli_password", password, ("exec: mysql -u root -p{s} orders",
                                      "mysqldump -uroot -p{s} shop")),
    ("cli_password_flag", password, ("exec: app --password {s} --verbose",
                                     "run --password={s}")),
    ("cli_token_flag", tok("", ALNUM, 32), ("exec: deploy --token {s}",)),
    ("sshpass", password, ("sshpass -p '{s}' ssh deploy@host",)),
    ("curl_user", password, ("curl -u admin:{s} https://api.internal",)),
    ("private_key_rsa", pem("RSA"),
     ("ERROR bad key -----BEGIN RSA PRIVATE KEY-----\n{s}\n-----END RSA PRIVATE KEY-----",)),
    ("private_key_pkcs8", pem(""),
     ("-----BEGIN PRIVATE KEY-----\n{s}\n-----END PRIVATE KEY----- rejected",)),
    ("private_key_ec", pem("EC"),
     ("-----BEGIN EC PRIVATE KEY-----\n{s}\n-----END EC PRIVATE KEY-----",)),
    ("private_key_openssh", pem("OPENSSH"),
     ("-----BEGIN OPENSSH PRIVATE KEY-----\n{s}\n-----END OPENSSH PRIVATE KEY-----",)),
    ("private_key_encrypted", pem("ENCRYPTED"),
     ("-----BEGIN ENCRYPTED PRIVATE KEY-----\n{s}\n-----END ENCRYPTED PRIVATE KEY-----",)),
    ("pgp_private_key_block", pem("PGP"),
     ("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{s}\n-----END PGP PRIVATE KEY BLOCK-----",)),
    ("private_key_cut_off", pem("RSA"), ("key dump -----BEGIN RSA PRIVATE KEY-----\n{s}",)),
    ("encryption_key_env", tok("", B64, 44), ("ENCRYPTION_KEY={s}",)),
    ("jwt_secret_env", password, ("JWT_SECRET={s}",)),
    ("django_secret_key", tok("", ALNUM + "!@#%^&*(-_=+)", 50), ("SECRET_KEY = '{s}'",)),
    ("rails_secret_key_base", tok("", HEX, 128), ("secret_key_base: {s}",)),
    ("signing_key", tok("", B64, 44), ("signingKey={s}",)),
    ("master_key", tok("", HEX, 32), ("MASTER_KEY={s}",)),
    ("license_key", tok("", UP + DIG, 25), ("licenseKey: {s}",)),
    ("otp_code", lambda rng: _r(rng, DIG, 6), ("verify otp={s} for user 1",)),
    ("word_password", word_password, ("ERROR login failed user=admin password={s}",
                                      "user_password: {s}")),
    ("password_plain", password, ("ERROR login failed user=admin password={s}",
                                  "Password : {s}")),
    ("credentials_value", password, ("credentials={s}",)),
    ("secret_generic", password, ("secret: {s}", "app_secret={s}")),
    # Personal data
    ("email", email("example.com"), ("WARN bounce for {s} after 3 attempts",
                                     '{{"email": "{s}"}}')),
    ("email_korean_domain", email("mail.co.kr"), ("가입 메일 {s} 반송",)),
    ("card_visa_spaces", card("4", 16, " "), ("ERROR payment declined card {s}",)),
    ("card_mastercard_dashes", card("55", 16, "-"), ("card={s} declined",)),
    ("card_visa_dots", card("4", 16, "."), ("card {s} declined",)),
    ("card_amex", card("37", 15, " ", (4, 6, 5)), ("amex {s} refused",)),
    ("card_no_separators", card("4", 16, "", (16,)), ("pan {s} refused",)),
    ("card_cvv", lambda rng: _r(rng, DIG, 3), ("cvv={s} mismatch",)),
    ("ssn_under_key", lambda rng: f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-"
     f"{rng.randint(1000, 9999)}", ("ssn={s}",)),
    # Korean
    ("korean_password", password, ("로그인 실패 비밀번호={s}", "비밀번호: {s}", "DB비밀번호={s}")),
    ("korean_password_loanword", password, ("패스워드: {s}",)),
    ("korean_cipher_word", password, ("암호={s} 불일치",)),
    ("korean_token", tok("", ALNUM, 32), ("토큰={s} 만료", "인증 토큰: {s}")),
    ("korean_auth_key", tok("", ALNUM, 32), ("인증키: {s}",)),
    ("korean_secret_key", tok("", ALNUM, 32), ("비밀키={s}",)),
    ("korean_api_key", tok("", ALNUM, 32), ("API키: {s}",)),
    ("korean_rrn", rrn, ("주민등록번호 {s} 확인 실패", "주민등록번호: {s}", "rrn {s}")),
    ("korean_rrn_no_hyphen", lambda rng: rrn(rng).replace("-", ""), ("주민등록번호: {s}",)),
    ("korean_alien_registration", lambda rng: rrn(rng, "5678"), ("외국인등록번호 {s}",)),
    ("korean_mobile", mobile("-"), ("연락처 {s} 로 발송 실패", '{{"phone": "{s}"}}')),
    ("korean_mobile_international", mobile(" ", True), ("SMS to {s} failed",)),
    ("korean_mobile_dashed_international", mobile("-", True), ("tel={s}",)),
    ("korean_mobile_plain", lambda rng: "010" + _r(rng, DIG, 8), ("수신번호 {s}",)),
    ("korean_landline", lambda rng: f"02-{rng.randint(100, 999)}-{_r(rng, DIG, 4)}",
     ("고객센터 {s}",)),
    ("korean_account_number", lambda rng: f"{_r(rng, DIG, 3)}-{_r(rng, DIG, 6)}-{_r(rng, DIG, 5)}",
     ("계좌번호: {s}",)),
    ("korean_passport", lambda rng: "M" + _r(rng, DIG, 8), ("여권번호={s}",)),
    ("korean_driver_licence",
     lambda rng: f"11-{_r(rng, DIG, 2)}-{_r(rng, DIG, 6)}-{_r(rng, DIG, 2)}",
     ("운전면허번호: {s}",)),
    ("korean_card_number", card("4", 16, "-"), ("카드번호 {s} 승인 거절",)),
    ("korean_security_code", lambda rng: _r(rng, DIG, 3), ("보안코드={s}",)),
    ("korean_verification_number", lambda rng: _r(rng, DIG, 6), ("인증번호: {s}",)),
]


def secrets(seed: int = 7) -> List[Tuple[str, str, str]]:
    """(kind, the secret itself, a log line carrying it), every kind in every form. The
    secret is the generated part: a token's public prefix is not counted as a leak."""
    rng = random.Random(seed)
    out = []
    for kind, make, templates in KINDS:
        public = len(getattr(make, "public_prefix", ""))
        for template in templates:
            secret = make(rng)
            out.append((kind, secret[public:], template.format(s=secret)))
    return out


def context(secret: str, line: str, width: int = 6) -> str:
    """A short secret with the text before it in its line (cvv=123): a three-digit number
    alone is no evidence of a leak in a large text, "cvv=123" is."""
    at = line.index(secret)
    return line[max(0, at - width):at] + secret


def leaked(secret: str, text: str, window: int = 8) -> bool:
    """Whether text shows the secret, or any `window` characters of it."""
    if secret in text:
        return True
    return len(secret) >= window and any(secret[i:i + window] in text
                                         for i in range(len(secret) - window + 1))
