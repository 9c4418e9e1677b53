// A DNS server for tests (dns2, UDP on 127.0.0.1): answers the A, AAAA, CNAME and TXT records a test sets,
// NOERROR with no answers for other types of a known name (CAA, for the ACME server), NXDOMAIN otherwise.
import dns2 from "dns2";

export interface ZoneRecords {
  A?: string[];
  AAAA?: string[];
  CNAME?: string;
  TXT?: string[];
}

export interface TestDns {
  /** `127.0.0.1:{port}`, as BOSUN_DNS_SERVERS and pebble's -dnsserver take it. */
  address: string;
  port: number;
  /** The records of a name (lowercase, no trailing dot); replaced whole. */
  set(name: string, records: ZoneRecords): void;
  delete(name: string): void;
  close(): Promise<void>;
}

const { Packet } = dns2;
const NXDOMAIN = 3;

export async function startTestDns(): Promise<TestDns> {
  const zone = new Map<string, ZoneRecords>();
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const question = request.questions[0];
      const name = (question?.name ?? "").toLowerCase().replace(/\.$/, "");
      const records = zone.get(name);
      if (!question || !records) {
        (response.header as { rcode: number }).rcode = NXDOMAIN;
        send(response);
        return;
      }
      // dns2's types want encoder objects; its encoder takes plain records.
      const answers = response.answers as unknown as Record<string, unknown>[];
      const base = { name: question.name, class: Packet.CLASS.IN, ttl: 1 };
      if (question.type === Packet.TYPE.A)
        for (const address of records.A ?? []) answers.push({ ...base, type: Packet.TYPE.A, address });
      if (question.type === Packet.TYPE.AAAA)
        for (const address of records.AAAA ?? []) answers.push({ ...base, type: Packet.TYPE.AAAA, address });
      if (question.type === Packet.TYPE.CNAME && records.CNAME)
        answers.push({ ...base, type: Packet.TYPE.CNAME, domain: records.CNAME });
      if (question.type === Packet.TYPE.TXT)
        for (const data of records.TXT ?? []) answers.push({ ...base, type: Packet.TYPE.TXT, data });
      send(response);
    },
  });
  await server.listen({ udp: { port: 0, address: "127.0.0.1" } });
  const port = server.addresses().udp!.port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    set: (name, records) => zone.set(name, records),
    delete: (name) => zone.delete(name),
    close: () => server.close() as Promise<void>,
  };
}
