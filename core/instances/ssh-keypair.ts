// Fresh ed25519 key pairs for instances and observer logins.
import ssh2 from "ssh2";

const ATTEMPTS = 10;

/**
 * A new ed25519 pair in OpenSSH format. ssh2's generator emits, about once in 300 pairs, a private key its own
 * parser refuses ("Malformed OpenSSH private key"; 13 of 3,000 here): stored, such a key could never log in,
 * and its instance would answer `unreachable` for ever. So each pair is parsed back before it is used.
 */
export function generateSshKeyPair(comment: string): { private: string; public: string } {
  for (let i = 0; i < ATTEMPTS; i++) {
    const pair = ssh2.utils.generateKeyPairSync("ed25519", { comment });
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error))
      return { private: pair.private, public: pair.public.trim() };
  }
  throw new Error(`bug: ssh2 generated ${ATTEMPTS} ed25519 keys it cannot parse`);
}
