/** @jsxRuntime automatic @jsxImportSource hono/jsx/dom */
/**
 * Hub: connections (id, address, rooms, since, frames in/out) with disconnect, join and leave;
 * rooms with members; a live event stream with a filter; publish an event to a room.
 *
 * @module
 */
import { type Child, useState } from "hono/jsx/dom";
import type { DashboardSnapshot } from "../../core.ts";
import type { HubLiveEvent, HubLiveState } from "../../../../lib/live/mod.ts";
import { act } from "../store.ts";
import { Absent, ActionButton, Chart, clock, duration, num, Section } from "../ui.tsx";

function RoomForm(props: { service: string; id: string }): Child {
  const [room, setRoom] = useState("");
  const label = `Room for ${props.id}`;
  return (
    <span class="roomform">
      <input
        type="text"
        aria-label={label}
        placeholder="room"
        size={8}
        value={room}
        onInput={(e: Event) => setRoom((e.target as HTMLInputElement).value)}
      />
      <ActionButton
        label="Join"
        ariaLabel={`Join ${props.id} to the room`}
        run={() => act(props.service, "join", { id: props.id, room })}
      />
      <ActionButton
        label="Leave"
        ariaLabel={`Make ${props.id} leave the room`}
        run={() => act(props.service, "leave", { id: props.id, room })}
      />
    </span>
  );
}

function describe(e: HubLiveEvent): string {
  switch (e.type) {
    case "event":
      return `${e.eventName} from ${e.connection} to ${e.room} (${e.delivered ?? 0} receivers) ${
        e.payload ?? ""
      }`;
    case "publish":
      return `published ${e.eventName} to ${e.room ?? "everyone"} (${e.delivered ?? 0} receivers) ${
        e.payload ?? ""
      }`;
    case "disconnect":
      return `${e.connection} disconnected (${e.code})`;
    case "connect":
      return `${e.connection} connected`;
    default:
      return `${e.connection} ${e.type === "join" ? "joined" : "left"} ${e.room}`;
  }
}

function Publish(props: { service: string; rooms: string[] }): Child {
  const [status, setStatus] = useState("");
  return (
    <form
      class="inline"
      aria-label="Publish an event to a room"
      data-testid="hub-publish"
      onSubmit={async (e: Event) => {
        e.preventDefault();
        const f = e.target as HTMLFormElement;
        const get = (n: string) => (f.elements.namedItem(n) as HTMLInputElement).value;
        let payload: unknown = get("payload");
        try {
          payload = payload === "" ? null : JSON.parse(payload as string);
        } catch { /* sent as a string */ }
        try {
          const r = await act<{ delivered: number }>(props.service, "publish", {
            eventName: get("eventName"),
            payload,
            ...(get("room") === "" ? {} : { room: get("room") }),
          });
          setStatus(`Delivered to ${r.delivered}`);
        } catch (err) {
          setStatus(err instanceof Error ? err.message : String(err));
        }
      }}
    >
      <label for="pub-room">Room</label>
      <input id="pub-room" name="room" list="hub-rooms" placeholder="(everyone)" size={10} />
      <datalist id="hub-rooms">{props.rooms.map((r) => <option key={r} value={r} />)}</datalist>
      <label for="pub-event">Event</label>
      <input id="pub-event" name="eventName" required size={10} value="message" />
      <label for="pub-payload">Payload</label>
      <input id="pub-payload" name="payload" size={20} placeholder='{"text": "hi"}' />
      <button type="submit">Publish</button>
      <span role="status">{status}</span>
    </form>
  );
}

/** The hub panel. */
export function HubPanel(props: { snap: DashboardSnapshot }): Child {
  const { snap } = props;
  const [filter, setFilter] = useState("");
  const parts = Object.values(snap.parts).filter((p) => p.part === "hub" && p.state !== null);
  if (parts.length === 0) {
    return (
      <div class="panel" data-panel="hub">
        <Absent what="No hub in this stack." />
      </div>
    );
  }
  return (
    <div class="panel" data-panel="hub">
      {parts.map((p) => {
        const s = p.state as HubLiveState;
        const h = snap.history[p.service];
        const events = ((snap.recent[p.service] ?? []) as HubLiveEvent[]).map((e) => ({
          e,
          text: describe(e),
        }));
        const f = filter.trim().toLowerCase();
        const shown = (f === ""
          ? events
          : events.filter((x) => x.text.toLowerCase().includes(f) || x.e.type.includes(f))).slice(
            0,
            100,
          );
        return (
          <>
            <Section title={`Connections (${num(s.gauges.connections)})`}>
              {s.connections.length === 0
                ? <Absent what="No connections." />
                : (
                  <table class="grid" data-testid="hub-connections">
                    <thead>
                      <tr>
                        <th scope="col">Id</th>
                        <th scope="col">Address</th>
                        <th scope="col">Rooms</th>
                        <th scope="col">Connected</th>
                        <th scope="col" class="n">In</th>
                        <th scope="col" class="n">Out</th>
                        <th scope="col">Actions</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.connections.map((c) => (
                        <tr data-id={c.id}>
                          <td class="mono small">{c.id}</td>
                          <td class="mono">{c.address || "–"}</td>
                          <td>{c.rooms.join(", ")}</td>
                          <td>{duration((snap.now - c.since) / 1000)} ago</td>
                          <td class="n">{num(c.in)}</td>
                          <td class="n">{num(c.out)}</td>
                          <td class="actions">
                            <ActionButton
                              label="Disconnect"
                              kind="danger"
                              ariaLabel={`Disconnect ${c.id}`}
                              testid={`disconnect-${c.id}`}
                              run={() => act(p.service, "disconnect", { id: c.id })}
                            />
                            <RoomForm service={p.service} id={c.id} />
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
            </Section>
            <Section title={`Rooms (${num(s.gauges.rooms)})`}>
              {s.rooms.length === 0
                ? <Absent what="No rooms." />
                : (
                  <table class="grid" data-testid="hub-rooms">
                    <thead>
                      <tr>
                        <th scope="col">Room</th>
                        <th scope="col" class="n">Members</th>
                        <th scope="col">Who</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.rooms.map((r) => (
                        <tr>
                          <th scope="row">{r.name}</th>
                          <td class="n">{num(r.size)}</td>
                          <td class="mono small wrap">
                            {r.members.join(", ")}
                            {r.size > r.members.length ? " …" : ""}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              <Publish
                service={p.service}
                rooms={s.rooms.map((r) =>
                  r.name
                )}
              />
            </Section>
            {h === undefined ? null : (
              <Section title="Traffic">
                <div class="charts">
                  <Chart
                    title="Events per second"
                    t={h.t}
                    unit="/s"
                    series={[{ label: "received", values: h.rates.eventsReceived ?? [] }, {
                      label: "deliveries",
                      values: h.rates.deliveries ?? [],
                    }]}
                  />
                  <Chart
                    title="Connections"
                    t={h.t}
                    series={[{ label: "open", values: h.gauges.connections ?? [] }]}
                  />
                </div>
              </Section>
            )}
            <Section title="Event stream">
              <div class="field inline">
                <label for="hub-filter">Filter</label>
                <input
                  id="hub-filter"
                  type="search"
                  value={filter}
                  placeholder="event, room, connection…"
                  onInput={(e: Event) => setFilter((e.target as HTMLInputElement).value)}
                />
              </div>
              {shown.length === 0
                ? (
                  <Absent
                    what={events.length === 0
                      ? "No events since this page opened."
                      : "No event matches the filter."}
                  />
                )
                : (
                  <ol class="stream" data-testid="hub-events" aria-live="off">
                    {shown.map(({ e, text }) => (
                      <li data-type={e.type}>
                        <span class="muted">{clock(e.at)}</span>{" "}
                        <span class={`tag ${e.type}`}>{e.type}</span>{" "}
                        <span class="mono">{text}</span>
                      </li>
                    ))}
                  </ol>
                )}
            </Section>
          </>
        );
      })}
    </div>
  );
}
