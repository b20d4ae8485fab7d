// Prints the MSK IAM token that AWS's own signer (aws-msk-iam-sasl-signer-js)
// makes for fixed credentials, region and time.
// Usage: node msk_iam_token.js NODE_MODULES REGION EPOCH_MS ACCESS_KEY SECRET [SESSION_TOKEN]
'use strict';
const [modules, region, epochMs, accessKeyId, secretAccessKey, sessionToken] =
    process.argv.slice(2);
const fixed = Number(epochMs);
const RealDate = Date;
// The package signs at `new Date()` and has no option for another time.
class FixedDate extends RealDate {
  constructor(...args) { if (args.length === 0) super(fixed); else super(...args); }
  static now() { return fixed; }
}
globalThis.Date = FixedDate;
const { generateAuthTokenFromCredentialsProvider } =
    require(require('path').join(modules, 'aws-msk-iam-sasl-signer-js'));
const credentials = { accessKeyId, secretAccessKey };
if (sessionToken) credentials.sessionToken = sessionToken;
generateAuthTokenFromCredentialsProvider({ region, awsCredentialsProvider: async () => credentials })
    .then((t) => { process.stdout.write(t.token + '\n' + t.expiryTime + '\n'); })
    .catch((e) => { process.stderr.write(String(e) + '\n'); process.exit(1); });
