// Browser-side hand-off alerts: a notification (when the person allowed them) and an
// optional short tone made with Web Audio (no sound file to load). The sound choice is
// kept per browser.
const SOUND_KEY = 'konstruct.handoff-sound'

export interface Handoff {
  id: string
  name: string | null
  reason: string | null
  url: string
}

export function handoffNotifier() {
  function soundOn(): boolean {
    try {
      return localStorage.getItem(SOUND_KEY) === 'on'
    } catch {
      return false
    }
  }
  function setSoundOn(on: boolean) {
    try {
      localStorage.setItem(SOUND_KEY, on ? 'on' : 'off')
    } catch {
      // Storage may be off; the choice then lasts for this page only.
    }
  }
  function beep() {
    try {
      const audio = new AudioContext()
      const tone = audio.createOscillator()
      const gain = audio.createGain()
      tone.frequency.value = 880
      gain.gain.setValueAtTime(0.15, audio.currentTime)
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4)
      tone.connect(gain).connect(audio.destination)
      tone.start()
      tone.stop(audio.currentTime + 0.4)
      tone.onended = () => void audio.close()
    } catch {
      // No audio device or autoplay refused: the notification and the title still tell.
    }
  }
  function announce(handoff: Handoff) {
    if (typeof Notification !== 'undefined' && Notification.permission === 'granted') {
      const n = new Notification(`${handoff.name ?? 'A customer'} is waiting for a human`, {
        body: handoff.reason ?? 'The agent handed the conversation over.',
        tag: `handoff-${handoff.id}`,
      })
      n.onclick = () => {
        window.focus()
        window.location.href = handoff.url
      }
    }
    if (soundOn()) beep()
  }
  return { announce, soundOn, setSoundOn }
}
