// The collection panel's times (js_on_load of its gr.HTML): each <time datetime> comes from the server in UTC and is
// shown in the reader's local time, to the minute.
const pad = (n) => String(n).padStart(2, '0');

function localTimes() {
  for (const time of element.querySelectorAll('time[datetime]')) {
    const moment = new Date(time.getAttribute('datetime'));
    if (Number.isNaN(moment.getTime())) continue;
    time.textContent = moment.getFullYear() + '-' + pad(moment.getMonth() + 1) + '-' + pad(moment.getDate()) + ' ' +
      pad(moment.getHours()) + ':' + pad(moment.getMinutes());
  }
}

localTimes();
watch('value', localTimes);
